/**
 * The coding agent's fixers: each turns a failure it is handed into a proposed fix. The catalogue
 * is what the coding-agent kernel registers (readiness: "fixers available"); the verification loop
 * that must pass before a fix closes an incident comes with the coding-agent issue.
 *
 * `signature_lookup` is the first fixer: it computes the failure's signature with the same engine
 * the knowledge base learns with, and proposes the fix the knowledge base holds for it, if any.
 */
import type { Db } from 'mongodb';
import { KNOWLEDGE_COLLECTION } from '../../clients/collections';
import { SignatureEngine, SignatureStore } from '../../signatures';

export interface Failure {
  kernel: string;
  errorType: string;
  message: string;
}

export interface FixProposal {
  fixer: string;
  signature: string;
  template: string;
  known: boolean;
  /** The playbook the knowledge base associates with this signature, when it knows one. */
  playbook: string | null;
}

export const FIXER_NAMES = ['signature_lookup'] as const;


export class Fixers {
  private readonly engine = new SignatureEngine();
  private loaded = 0;

  constructor(private readonly db: Db) {}

  /** Loads what the signature engine learned so far; returns how many templates. */
  async loadKnowledge(): Promise<number> {
    this.loaded = await new SignatureStore(this.db).load(this.engine);
    return this.loaded;
  }

  get knowledgeCount(): number {
    return this.loaded;
  }

  async signatureLookup(failure: Failure): Promise<FixProposal> {
    const sig = this.engine.sign({ kernel: failure.kernel, errorType: failure.errorType, message: failure.message });
    const entry = await this.db
      .collection<{ _id: string; playbook?: string }>(KNOWLEDGE_COLLECTION)
      .findOne({ _id: sig.signature });
    return {
      fixer: 'signature_lookup',
      signature: sig.signature,
      template: sig.template,
      known: entry !== null,
      playbook: entry?.playbook ?? null,
    };
  }
}
