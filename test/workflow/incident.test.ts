/**
 * The incident workflow's decisions on the time-skipping server, with stub activities (the real
 * loop on the real stack is test/integration/incidents.test.ts): the coding agent for a new
 * signature, the knowledge base's remedy without it when auto-applied, a failing verification
 * reopening and trying again, the agent down (the healing worker's matching answers), evidence
 * folding into the open incident, and a signature with no remedy.
 */
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { INCIDENT_WORKFLOW, incidentCloseWorkflowId, incidentEvidenceSignal, incidentQuery, type Incident, type IncidentInput, type IncidentWorkflow } from '../../contracts/incident';
import type { VerificationCheckReport } from '../../contracts/verification';
import type { Playbook } from '../../src/playbooks/format';
import type { AuditFlush } from '../../activities/playbooks';
import type { RemedyChoice } from '../../src/healing/remedies';
import type { RemedyOutcome } from '../../src/knowledge/types';
import { makeEvidence, type Evidence } from '../../src/healing/evidence';
import { timeSkippingFixture } from '../support/time-skipping';
import { uniqueId } from '../support/env';

const playbook: Playbook = {
  name: 'stub_fix',
  description: '',
  file: 'test.yaml',
  trigger: { kernel: 'message_bus', events: ['acl_violation'], signatures: [] },
  parameters: {},
  concurrency: 'wait',
  steps: [
    { id: 'act', action: 'publish_event', with: {}, output: null, when: null, timeoutMs: 10_000, retry: { attempts: 1, backoffMs: 100, nonRetryable: [] }, onFailure: 'abort', compensate: null, approval: null },
  ],
};

const choice: RemedyChoice = { kind: 'playbook', name: 'stub_fix', playbook, params: {}, reason: 'stub' };

function evidence(n = 0): Evidence {
  return makeEvidence({ kind: 'acl_violation', kernel: 'message_bus', process: 'bus', pid: null, key: `k${n}`, detail: 'ACL violation', text: 'Publish Violation - User "immutable_log", Subject "x"', at: Date.now(), observer: 'test' });
}

interface Options {
  autoApply?: boolean;
  /** Per attempt: does the tests check pass? */
  testsPass?: boolean[];
  /** Per attempt: does the readiness self-test pass after the remedy? */
  readyAfter?: boolean[];
  agentDown?: boolean;
  noRemedy?: boolean;
  /** Awaited by the first durable record of a healed incident (state `verifying`): a slow store. */
  onVerifyingRecord?: () => Promise<void>;
}

function stubs(o: Options) {
  const calls: string[] = [];
  const outcomes: RemedyOutcome[] = [];
  const records: Array<Incident & { rev: number }> = [];
  let verifications = 0;
  let readiness = 0;
  const check = (name: VerificationCheckReport['name'], ok: boolean): VerificationCheckReport => ({ name, ok, command: name, exitCode: ok ? 0 : 1, output: ok ? '' : `${name} broke`, ms: 1, startedAt: new Date().toISOString() });
  const healing = {
    recordIncident: async (i: Incident, rev: number) => {
      records.push({ ...structuredClone(i), rev });
      if (i.state === 'verifying' && o.onVerifyingRecord) {
        const hold = o.onVerifyingRecord;
        delete o.onVerifyingRecord;
        await hold();
      }
    },
    collectDiagnostics: async () => ({ logLines: ['line'], heartbeats: [{ kernel: 'message_bus' }], resources: { bus: { pid: 1 } } }),
    decideRemedy: async () => {
      calls.push('decideRemedy');
      const known = o.autoApply === true && outcomes.every((x) => x.ok);
      return { known, autoApply: known, entry: null, remedy: known ? choice : null };
    },
    chooseRemedy: async () => {
      calls.push('fallbackChooseRemedy');
      return o.noRemedy ? { kind: null, reason: 'nothing matches' } : choice;
    },
    joinPlaybookRun: async () => assert.fail('no run to join'),
    learnOutcome: async (x: RemedyOutcome) => {
      outcomes.push(x);
      return null;
    },
    appendClarity: async () => ({ seq: 1 }),
    openIncidentBacklog: async () => void calls.push('backlog'),
    // The playbook run's own activities.
    beginPlaybookRun: async () => ({ lock: null, logSeq: 0 }),
    flushPlaybookAudit: async (f: AuditFlush) => ({ appended: f.entries.length, seq: 1 }),
    finishPlaybookRun: async () => ({ auditErrors: [], seq: 1 }),
    publish_event: async () => {
      calls.push('publish_event');
      return { ok: true };
    },
    // The verification workflow's.
    verificationSettings: async () => ({ checks: ['readiness', 'detector', 'tests'], checkTimeoutMs: 10_000, taskQueues: { healing: 'unused', codingAgent: 'unused' } }),
    verifyReadiness: async () => check('readiness', o.readyAfter?.[readiness++] ?? true),
    verifyDetector: async () => check('detector', true),
  };
  const agent = {
    chooseRemedy: async () => {
      calls.push('agentChooseRemedy');
      // The time-skipping server does not skip time for an activity no worker polls: a broken agent
      // stands in for an absent one (both end the task in a failure the incident falls back from).
      if (o.agentDown) throw ApplicationFailure.create({ type: 'AgentDown', message: 'coding agent unavailable', nonRetryable: true });
      return o.noRemedy ? { kind: null, reason: 'nothing matches' } : choice;
    },
    runProjectCheck: async () => {
      const ok = o.testsPass?.[verifications++] ?? true;
      return check('tests', ok);
    },
  };
  return { calls, outcomes, records, healing, agent };
}

describe('incident workflow (time-skipping server, stub activities)', function () {
  this.timeout(90_000);
  const ts = timeSkippingFixture();

  async function run(o: Options, during?: (id: string) => Promise<void>, e = evidence()) {
    const s = stubs(o);
    const healingQueue = uniqueId('incident');
    const agentQueue = uniqueId('agent');
    const healing = await Worker.create({ connection: ts.env.nativeConnection, taskQueue: healingQueue, workflowBundle: ts.bundle, activities: s.healing });
    const agent = await Worker.create({ connection: ts.env.nativeConnection, taskQueue: agentQueue, activities: s.agent });
    const workflowId = uniqueId('incident');
    const input: IncidentInput = { evidence: e, settings: { taskQueues: { healing: healingQueue, codingAgent: agentQueue }, maxAttempts: 2, checks: ['readiness', 'detector', 'tests'] } };
    const work = async () => {
      const handle = await ts.env.client.workflow.start<IncidentWorkflow>(INCIDENT_WORKFLOW, { taskQueue: healingQueue, workflowId, args: [input] });
      await during?.(workflowId);
      return handle.result();
    };
    const both = async (): Promise<Incident> => {
      const intake = await work();
      // Healed: the close goes on in its own workflow; wait for it too.
      if (intake.state !== 'verifying') return intake;
      return (await ts.env.client.workflow.getHandle(incidentCloseWorkflowId(intake.id)).result()) as Incident;
    };
    const inc = await healing.runUntil(agent.runUntil(both()));
    return { inc, ...s };
  }

  it('a new signature goes to the coding agent, its remedy runs and is verified, the incident closes and is learned', async () => {
    const { inc, calls, outcomes, records } = await run({});
    assert.equal(inc.state, 'closed');
    assert.equal(inc.known, false);
    assert.equal(inc.autoApplied, false);
    assert.deepEqual(calls, ['decideRemedy', 'agentChooseRemedy', 'publish_event']);
    assert.equal(inc.remedy?.name, 'stub_fix');
    assert.equal(inc.remedy?.chosenBy, 'coding_agent');
    assert.equal(inc.verification?.ok, true);
    assert.ok(inc.timeToHealMs !== null && inc.timeToHealMs >= 0);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0].ok, true);
    assert.equal(outcomes[0].outcomeId, `${inc.id}:1`);
    assert.equal(inc.clarity?.steps.length, 13);
    // The store saw each state in order.
    // Writes before the remedy are not awaited and may land out of order: the store keeps the highest revision.
    const states = [...records].sort((a, b) => a.rev - b.rev).map((r) => r.state).filter((s, i, a) => a[i - 1] !== s);
    assert.deepEqual(states, ['open', 'diagnosing', 'remedying', 'verifying', 'closed']);
  });

  it('a known signature with autoApply runs its remedy without the coding agent', async () => {
    const { inc, calls } = await run({ autoApply: true });
    assert.equal(inc.state, 'closed');
    assert.equal(inc.known, true);
    assert.equal(inc.autoApplied, true);
    assert.equal(inc.remedy?.chosenBy, 'knowledge_base');
    assert.ok(!calls.includes('agentChooseRemedy'));
  });

  it('a remedy that does not heal (the kernel not ready after it) is learned as a failure and tried again, through the agent', async () => {
    const { inc, outcomes, calls } = await run({ readyAfter: [false, true], autoApply: true });
    assert.equal(inc.state, 'closed');
    assert.equal(inc.attempts, 2);
    assert.deepEqual(outcomes.map((x) => x.ok), [false, true]);
    assert.ok(inc.errors.some((e) => /attempt 1: readiness failed/.test(e)), inc.errors.join('\n'));
    // The first attempt was auto-applied; after its failure the knowledge base no longer trusts it.
    assert.deepEqual(calls.filter((c) => c !== 'publish_event'), ['decideRemedy', 'decideRemedy', 'agentChooseRemedy']);
  });

  it('healed but a project check fails: reopened with its output, learned as a failure, not tried again, a backlog item', async () => {
    const { inc, outcomes, calls } = await run({ testsPass: [false] });
    assert.equal(inc.state, 'reopened');
    assert.equal(inc.attempts, 1);
    assert.equal(inc.closedAt, null);
    assert.deepEqual(outcomes.map((x) => x.ok), [false]);
    assert.ok(inc.errors.some((e) => /tests broke/.test(e)), inc.errors.join('\n'));
    assert.deepEqual(inc.verification?.checks.map((c) => `${c.name}:${c.ok}`), ['readiness:true', 'detector:true', 'tests:false']);
    assert.ok(calls.includes('backlog'));
  });

  it('a remedy that never heals: reopened after every attempt, a backlog item', async () => {
    const { inc, calls, outcomes } = await run({ readyAfter: [false, false] });
    assert.equal(inc.state, 'reopened');
    assert.equal(inc.closedAt, null);
    assert.deepEqual(outcomes.map((x) => x.ok), [false, false]);
    assert.ok(calls.includes('backlog'));
  });

  it('the coding agent down: the healing worker matches the playbook and the incident says so', async () => {
    const { inc, calls } = await run({ agentDown: true });
    assert.ok(calls.includes('fallbackChooseRemedy'));
    assert.equal(inc.state, 'closed');
    assert.equal(inc.remedy?.name, 'stub_fix');
    assert.ok(inc.errors.some((e) => /coding agent did not answer/.test(e)), inc.errors.join('\n'));
  });

  it('evidence of the same signature arriving while it is open is attached, not a new incident', async () => {
    const { inc } = await run({}, async (workflowId) => {
      const h = ts.env.client.workflow.getHandle(workflowId);
      await h.signal(incidentEvidenceSignal, evidence(1));
      await h.signal(incidentEvidenceSignal, evidence(2));
      await h.signal(incidentEvidenceSignal, evidence(2));
      const q = await h.query(incidentQuery);
      assert.ok(q.evidenceCount >= 1);
    });
    assert.equal(inc.evidenceCount, 3);
    assert.equal(inc.evidence.attached.length, 2);
  });

  it('evidence observed after the fault was seen gone, while the intake still records the hand-off, is a new occurrence: its own incident, remedied again', async () => {
    let reached!: () => void;
    const atRecord = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = evidence(1);
    let again: Evidence | undefined;
    const { inc, calls, records } = await run(
      { onVerifyingRecord: async () => (reached(), held) },
      async (id) => {
        await atRecord;
        const handle = ts.env.client.workflow.getHandle(id);
        const healedAt = (await handle.query(incidentQuery)).verification?.healedAt;
        assert.ok(typeof healedAt === 'number', 'healed before its durable record');
        again = { ...evidence(2), at: healedAt + 1 };
        await handle.signal(incidentEvidenceSignal, again);
        release();
      },
      first,
    );
    // The intake's next run is the new occurrence's incident, closed after its own remedy.
    assert.equal(inc.evidence.first.id, again!.id);
    assert.equal(inc.state, 'closed');
    assert.deepEqual(calls.filter((c) => c === 'publish_event'), ['publish_event', 'publish_event'], 'remedied twice');
    const healedFirst = records.filter((r) => r.evidence.first.id === first.id);
    assert.notEqual(healedFirst[0]?.id, inc.id);
    assert.ok(healedFirst.every((r) => !r.evidence.attached.includes(again!.id)), 'not attached to the incident already healed');
    assert.ok(healedFirst.some((r) => r.state === 'verifying'), 'the first incident was healed and handed over');
  });

  it('no remedy for the signature: reopened, a backlog item, nothing run', async () => {
    const { inc, calls } = await run({ noRemedy: true });
    assert.equal(inc.state, 'reopened');
    assert.equal(inc.remedy, null);
    assert.ok(!calls.includes('publish_event'));
    assert.ok(calls.includes('backlog'));
  });
});
