// What GET /v1/live has said so far (docs/http.md#get-v1live): the
// questions in flight and those that ended while the page watched, each
// with its members' states, texts and times. Pure: `apply` changes the
// model for one event; the views read it.

/// Most finished questions kept on the page (the store keeps them all).
const keepFinished = 200;
/// Most bytes of text kept per member on the page.
const textMax = 256 << 10;

function member(label, step = '') {
  return {
    label, step, state: 'waiting', attempt: 0, waitMs: 0, reason: '', message: '',
    text: '', queuedMs: null, sentMs: null, firstTokenMs: null, doneMs: null, outcome: null,
  };
}

function question(header) {
  return {
    run: header.run,
    api: header.api,
    kind: header.kind,
    target: header.target,
    combine: header.combine ?? '',
    key: header.key ?? '',
    stream: Boolean(header.stream),
    createdMs: header.created_ms,
    members: (header.members ?? []).map((label) => member(label)),
    steps: Object.fromEntries((header.steps ?? []).map((s) => [s, 'waiting'])),
    answerText: '',
    status: 'running',
    result: null,
    doneMs: null,
  };
}

function addText(into, piece) {
  return into.length >= textMax ? into : (into + piece).slice(0, textMax);
}

export function emptyLive() {
  return { questions: new Map(), connected: false, resets: 0 };
}

/// The member `label` of `step` in `q`, added when new.
function find(q, label, step = '') {
  let m = q.members.find((x) => x.label === label && x.step === step);
  if (!m) {
    m = member(label, step);
    q.members.push(m);
  }
  return m;
}

function fromSnapshot(s) {
  const q = question(s);
  q.members = (s.members ?? []).map((m) => ({
    ...member(m.member, m.step ?? ''),
    state: m.state, attempt: m.attempt ?? 0, waitMs: m.wait_ms ?? 0,
    reason: m.reason ?? '', message: m.message ?? '', text: m.text ?? '',
    queuedMs: m.queued_ms, sentMs: m.sent_ms, firstTokenMs: m.first_token_ms,
    doneMs: m.done_ms, outcome: m.outcome,
  }));
  q.steps = { ...(s.steps ?? {}) };
  q.answerText = s.answer_text ?? '';
  // Its age now, as the server counted it: times stay on the server's clock.
  q.createdMs = Date.now() - (s.t ?? 0);
  return q;
}

/// Forgets the oldest finished questions beyond `keepFinished`.
function prune(live) {
  const finished = [...live.questions.values()].filter((q) => q.status !== 'running');
  for (let i = 0; i + keepFinished < finished.length; ++i) live.questions.delete(finished[i].run);
}

/// Applies one event of the feed to `live`; returns whether it changed.
export function apply(live, name, data) {
  if (name === 'snapshot') {
    for (const [run, q] of live.questions) if (q.status === 'running') live.questions.delete(run);
    for (const s of data.questions ?? []) live.questions.set(s.run, fromSnapshot(s));
    live.connected = true;
    return true;
  }
  if (name === 'reset') {
    live.resets += 1;
    return true;
  }
  if (name === 'question.started') {
    const q = question(data);
    q.createdMs = Date.now();
    live.questions.set(data.run, q);
    return true;
  }
  const q = live.questions.get(data.run);
  if (!q) return false;
  const step = data.step ?? '';
  switch (name) {
    case 'member.state': {
      const m = find(q, data.member, step);
      m.state = data.state;
      m.attempt = data.attempt ?? m.attempt;
      if (data.state === 'queued' && m.queuedMs === null) m.queuedMs = data.t;
      if (data.state === 'sent') m.sentMs = data.t;
      if (data.state === 'retrying') {
        m.waitMs = data.wait_ms ?? 0;
        m.reason = data.reason ?? '';
        m.message = data.message ?? '';
      }
      return true;
    }
    case 'member.delta': {
      if (data.answer && !step) {
        q.answerText = addText(q.answerText, data.text);
        return true;
      }
      const m = find(q, data.member, step);
      if (m.firstTokenMs === null) m.firstTokenMs = data.t;
      if (m.state !== 'streaming') m.state = 'streaming';
      m.text = addText(m.text, data.text);
      return true;
    }
    case 'member.done': {
      const m = find(q, data.member, step);
      m.state = data.state;
      m.doneMs = data.t;
      m.outcome = data.outcome;
      if (!m.text && data.text) m.text = data.text;
      return true;
    }
    case 'step.started':
      q.steps[data.step] = 'running';
      return true;
    case 'step.done':
      q.steps[data.step] = data.outcome?.status ?? 'done';
      return true;
    case 'question.done':
      q.status = data.status;
      q.result = data.result;
      q.doneMs = data.t;
      if (data.result?.text && (!q.answerText || data.result.text.startsWith(q.answerText))) {
        q.answerText = data.result.text;
      }
      prune(live);
      return true;
    default:
      return false;
  }
}

/// Questions newest first: running ones, then finished ones.
export function ordered(live) {
  const all = [...live.questions.values()];
  const running = all.filter((q) => q.status === 'running').reverse();
  const finished = all.filter((q) => q.status !== 'running').reverse();
  return [...running, ...finished];
}
