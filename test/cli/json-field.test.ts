import { findValueSpan, parseFieldPath } from '../../cli/json-field';

describe('parseFieldPath', () => {
  it('reads $.a.b, a.b and $ (the whole line)', () => {
    expect(parseFieldPath('$.payload.secret')).toEqual(['payload', 'secret']);
    expect(parseFieldPath('payload')).toEqual(['payload']);
    expect(parseFieldPath('$')).toEqual([]);
  });

  it.each(['$..a', '$.a[0]', '$.*', '$a', 'a..b', '$.a b'])('refuses %j with a message naming the supported form', (p) => {
    expect(() => parseFieldPath(p)).toThrow(/dotted path of member names such as \$\.payload\.secret/);
  });
});

describe('findValueSpan', () => {
  const at = (line: string, path: string[]) => {
    const span = findValueSpan(line, path);
    return span && line.slice(span.start, span.end);
  };

  it('finds nested values exactly, whatever the spacing', () => {
    const line = '{ "id": 1, "payload" : { "secret" : {"ciphertext":"x","n":[1,{"a":2}]} , "z": null } }';
    expect(at(line, ['payload', 'secret'])).toBe('{"ciphertext":"x","n":[1,{"a":2}]}');
    expect(at(line, ['payload', 'z'])).toBe('null');
    expect(at(line, [])).toBe(line.trim());
  });

  it('handles escaped quotes and braces inside strings', () => {
    const line = '{"note":"a \\"}{\\" b","f":"AP2:1:c:xyz"}';
    expect(at(line, ['f'])).toBe('"AP2:1:c:xyz"');
  });

  it('is undefined when the path is absent or crosses a non-object', () => {
    expect(at('{"a":1}', ['b'])).toBeUndefined();
    expect(at('{"a":1}', ['a', 'b'])).toBeUndefined();
    expect(at('{"a":[{"b":1}]}', ['a', 'b'])).toBeUndefined();
  });

  it('takes the last of duplicate members, as JSON.parse does', () => {
    expect(at('{"a":1,"a":2}', ['a'])).toBe('2');
  });

  it.each(['{"a":1', '{"a":1}}', '{a:1}', '{"a":01}', '{"a":tru}', '['.repeat(1000)])('refuses %j as not JSON', (line) => {
    expect(() => findValueSpan(line, ['a'])).toThrow(/not valid JSON/);
  });
});
