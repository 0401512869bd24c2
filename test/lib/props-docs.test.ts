/**
 * Every prop of every public construct (the `*Props` interfaces the CDK entry exports) has a doc comment, and every
 * optional one says its default (`@default`), in the aws-cdk style: a platform team reads them in their editor and
 * in docs/api.
 */
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');

function propsInterfaces(): { name: string; decl: ts.InterfaceDeclaration; file: ts.SourceFile }[] {
  const program = ts.createProgram([path.join(ROOT, 'lib', 'index.ts')], { strict: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const entry = program.getSourceFile(path.join(ROOT, 'lib', 'index.ts'))!;
  const out: { name: string; decl: ts.InterfaceDeclaration; file: ts.SourceFile }[] = [];
  for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(entry)!)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    for (const decl of target.declarations ?? []) {
      if (ts.isInterfaceDeclaration(decl) && /(Props|Names|Trust|Attributes)$/.test(decl.name.text)) out.push({ name: decl.name.text, decl, file: decl.getSourceFile() });
    }
  }
  return out;
}

describe('construct props documentation', () => {
  const interfaces = propsInterfaces();

  it('finds the public props interfaces', () => {
    expect(interfaces.map((i) => i.name)).toEqual(expect.arrayContaining(['AlphaPulseKeysProps', 'KeyStorageProps', 'RotationFunctionProps', 'KeyMonitoringProps', 'BackupBucketProps', 'AccessRolesProps', 'KeysetInitializerProps']));
  });

  it('documents every prop, and the default of every optional one', () => {
    const missing: string[] = [];
    for (const { name, decl } of interfaces) {
      for (const member of decl.members) {
        if (!ts.isPropertySignature(member)) continue;
        const prop = `${name}.${member.name.getText()}`;
        const docs = ts.getJSDocCommentsAndTags(member);
        if (docs.length === 0) missing.push(`${prop}: no doc comment`);
        else if (member.questionToken && !ts.getJSDocTags(member).some((t) => t.tagName.text === 'default')) missing.push(`${prop}: optional without @default`);
      }
    }
    expect(missing).toEqual([]);
  });
});
