/**
 * The token issuer's public key in the learner's world, a fixture
 * (scripts/check-kit/target.ts, fixture()): a KeyObject does not cross as
 * data, and the learner's server hands it to jose, which needs the real one.
 * The checks give the key as PEM, and put what keyObject() returns into the
 * learner's AuthConfig.
 */
import { createPublicKey, type KeyObject } from "node:crypto";

export class TokenKey {
  constructor(private readonly pem: string) {}

  keyObject(): KeyObject {
    return createPublicKey(this.pem);
  }
}
