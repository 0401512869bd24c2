import { ValidationError } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * A construct's props failed its checks: aws-cdk-lib's ValidationError, so the CDK CLI shows it with the
 * construct's path. Its `name` parameter is a branded literal type whose constructor (`lit`) is private to
 * aws-cdk-lib; the names here are literals all the same.
 */
export function validationError(scope: IConstruct, name: string, message: string): ValidationError {
  return new ValidationError(name as ConstructorParameters<typeof ValidationError>[0], message, scope);
}
