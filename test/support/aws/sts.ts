/**
 * STS as the stand-in's identity registry: which access keys exist and whose they are.
 *
 * Modelled (AWS Security Token Service API Reference: GetCallerIdentity): GetCallerIdentity answers
 * the Arn, UserId and Account of the access key that signed the request. UserId follows IAM's unique-id
 * shapes: `AIDA...` for an IAM user, `AROA...:<session name>` for an assumed role. The API reference
 * says no permission is needed to call it ("you can still perform this operation" even if denied), so
 * the HTTP layer never consults the authorize hook for it.
 *
 * Also the key registry the HTTP layer authenticates with: a request signed with an access key id not
 * registered here is answered as AWS answers an unknown key. One key exists from the start (`DEFAULT_*`).
 *
 * Not modelled: AssumeRole and the other credential-vending operations, session tokens, key expiry
 * (use the `expired-token` fault), signature verification.
 */
import { createHash } from 'node:crypto';
import { AwsServiceError, type Input } from './errors';

export const DEFAULT_ACCESS_KEY_ID = 'AKIASTANDINTESTKEY01';
export const DEFAULT_SECRET_ACCESS_KEY = 'stand-in/secret/access/key/not-a-real-one';

export interface Identity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly arn: string;
  readonly userId: string;
  readonly account: string;
}

export class StsModel {
  private readonly identities = new Map<string, Identity>();

  constructor(private readonly options: { readonly accountId: string }) {
    this.addIdentity(DEFAULT_ACCESS_KEY_ID, `arn:aws:iam::${options.accountId}:user/aws-stand-in`, DEFAULT_SECRET_ACCESS_KEY);
  }

  /** Registers an access key for an identity ARN (an IAM user, role or assumed-role session); returns its credentials. */
  addIdentity(accessKeyId: string, arn: string, secretAccessKey = `secret-for-${accessKeyId}`): { accessKeyId: string; secretAccessKey: string } {
    const account = /^arn:aws[^:]*:(?:iam|sts)::(\d{12}):/.exec(arn)?.[1] ?? this.options.accountId;
    const unique = createHash('sha256').update(arn).digest('hex').slice(0, 17).toUpperCase();
    const session = /:assumed-role\/[^/]+\/(.+)$/.exec(arn)?.[1];
    const userId = session !== undefined ? `AROA${unique}:${session}` : `AIDA${unique}`;
    this.identities.set(accessKeyId, { accessKeyId, secretAccessKey, arn, userId, account });
    return { accessKeyId, secretAccessKey };
  }

  removeIdentity(accessKeyId: string): void {
    this.identities.delete(accessKeyId);
  }

  identity(accessKeyId: string): Identity | undefined {
    return this.identities.get(accessKeyId);
  }

  getCallerIdentity(accessKeyId: string): { Arn: string; UserId: string; Account: string } {
    const id = this.identities.get(accessKeyId);
    if (!id) throw new AwsServiceError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    return { Arn: id.arn, UserId: id.userId, Account: id.account };
  }

  invoke(operation: string, _input: Input, accessKeyId: string): unknown {
    if (operation === 'GetCallerIdentity') return this.getCallerIdentity(accessKeyId);
    throw new AwsServiceError('InvalidAction', `The action ${operation} is not valid for this web service.`);
  }
}
