// GET /v1/runs/{id} answers in one of two shapes (docs/http.md): a run this
// server still holds (`"object": "run"`, its `answer` an ensemble answer
// as in docs/answer.md) or one read back from the store (`"object":
// "tutti.run"`, its members in `calls`). The views read one shape: this.

/// One member's (or combiner call's) outcome.
function outcome(o, role) {
  const failed = o.status !== 'ok';
  return {
    role,
    label: o.member ?? o.provider ?? '?',
    provider: o.provider ?? '',
    model: o.model ?? '',
    status: o.status ?? 'unknown',
    failureKind: failed ? (o.error?.kind ?? o.failure_kind ?? '') : '',
    httpStatus: o.error?.http_status ?? o.http_status ?? null,
    message: failed ? (o.error?.message ?? o.error ?? '') : '',
    latencyMs: o.timing?.total_ms ?? (typeof o.total_us === 'number' ? o.total_us / 1000 : null),
    usage: o.usage ?? null,
    costUsd: o.cost_usd ?? null,
    cached: Boolean(o.cached),
    text: o.text ?? '',
  };
}

/// The last user turn of a stored prompt (the messages as JSON text).
function lastUserTurn(prompt) {
  if (typeof prompt !== 'string' || prompt === '') return '';
  try {
    const messages = JSON.parse(prompt);
    if (!Array.isArray(messages)) return prompt;
    const user = messages.filter((m) => m.role === 'user').pop();
    if (!user) return '';
    if (typeof user.content === 'string') return user.content;
    if (Array.isArray(user.content)) {
      return user.content.map((part) => part.text ?? '').join('');
    }
    return '';
  } catch {
    return prompt;
  }
}

/// What a strategy decided besides its answer: agreement, a ranking with
/// mean ranks, peer reviews, debate rounds (docs/answer.md).
function verdictOf(from) {
  return {
    winner: from.winner ?? '',
    agreement: typeof from.agreement === 'number' ? from.agreement : null,
    ranking: from.ranking ?? [],
    meanRanks: from.mean_ranks ?? [],
    reviews: from.reviews ?? [],
    rounds: from.rounds ?? null,
  };
}

/// The run, whatever its shape, as the run view shows it.
export function runModel(run) {
  if (run.object === 'tutti.run') {
    const calls = run.calls ?? [];
    return {
      id: run.id,
      target: run.target,
      targetKind: run.target_kind,
      status: run.status,
      startedMs: run.started_ms,
      wallMs: typeof run.wall_us === 'number' ? run.wall_us / 1000 : null,
      usage: run.usage ?? null,
      costUsd: run.cost_usd ?? null,
      combine: run.combine ?? '',
      prompt: lastUserTurn(run.prompt),
      answer: run.answer ?? '',
      note: run.note ?? '',
      votes: run.votes ?? [],
      verdict: verdictOf(run),
      members: calls.filter((c) => (c.role ?? 'member') === 'member').map((c) => outcome(c, 'member')),
      combiner: calls.filter((c) => c.role && c.role !== 'member').map((c) => outcome(c, c.role)),
      pipelineSteps: run.steps ?? [],
    };
  }
  const answer = run.answer ?? {};
  return {
    id: run.id,
    target: run.name,
    targetKind: run.kind,
    status: run.status,
    startedMs: typeof run.created === 'number' ? run.created * 1000 : null,
    wallMs: answer.total_ms ?? null,
    usage: answer.usage ?? null,
    costUsd: answer.cost_usd ?? null,
    combine: answer.combine ?? '',
    prompt: '',
    answer: answer.text ?? run.result?.output ?? '',
    note: answer.note ?? '',
    votes: answer.votes ?? [],
    verdict: verdictOf(answer),
    members: (answer.members ?? []).map((m) => outcome(m, 'member')),
    combiner: (answer.combiner_calls ?? []).map((m) => outcome(m, 'combiner')),
    pipelineSteps: [],
  };
}
