// The playground (#/playground): ask one of the server's ensembles or
// providers, or an ensemble composed on the page (members, until, mode,
// combine), through POST /v1/chat/completions streamed, as any client
// would (`tutti.ensemble` for a composed one). The answer streams here;
// the members stream in the live question beside it, and the run's id
// links to it.

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, readEvents } from './api.js';
import { useLive } from './live_feed.js';
import { QuestionView } from './live_view.js';
import { ErrorNote } from './parts.js';

/// The strategies a composed ensemble may use, and the provider each needs.
const strategies = [
  ['vote', null], ['collect', null], ['first', null], ['judge', 'judge'],
  ['rank', 'judge'], ['usc', 'judge'], ['synthesize', 'synthesizer'],
  ['debate', null], ['council', 'chairman'],
];

/// The request body for what the form holds.
export function chatBody(form) {
  const body = {
    model: form.target,
    messages: [{ role: 'user', content: form.question }],
    stream: true,
  };
  if (form.target === 'compose') {
    const ensemble = {
      members: form.members,
      until: form.until,
      mode: form.mode,
      combine: form.combine,
    };
    const needs = strategies.find(([name]) => name === form.combine)?.[1];
    if (needs) ensemble[needs] = form.helper;
    body.model = 'playground';
    body.tutti = { ensemble };
  }
  return body;
}

export function Playground({ epoch }) {
  const { live } = useLive(epoch); // the question's members stream below
  const [models, setModels] = useState(null);
  const [error, setError] = useState(null);
  const [form, setForm] = useState({
    target: '', question: '', members: [], until: 'all', mode: 'parallel', combine: 'vote', helper: '',
  });
  const [answer, setAnswer] = useState('');
  const [run, setRun] = useState('');
  const [busy, setBusy] = useState(false);
  const stop = useRef(null);

  useEffect(() => {
    Promise.all([getJson('/v1/ensembles'), getJson('/v1/providers')])
      .then(([e, p]) => {
        const ensembles = e.data.map((x) => x.name);
        const providers = p.data.map((x) => x.name);
        setModels({ ensembles, providers });
        setForm((f) => ({
          ...f,
          target: f.target || (ensembles[0] ? `ensemble/${ensembles[0]}` : 'compose'),
          members: f.members.length ? f.members : providers.slice(0, 3),
          helper: f.helper || providers[0] || '',
        }));
      })
      .catch(setError);
    return () => stop.current?.abort();
  }, [epoch]);

  const set = (field) => (event) => setForm({ ...form, [field]: event.currentTarget.value });
  const toggle = (name) => setForm({
    ...form,
    members: form.members.includes(name) ? form.members.filter((m) => m !== name) : [...form.members, name],
  });

  const ask = async (event) => {
    event.preventDefault();
    stop.current?.abort();
    const controller = new AbortController();
    stop.current = controller;
    setAnswer('');
    setRun('');
    setError(null);
    setBusy(true);
    let text = '';
    try {
      await readEvents('/v1/chat/completions', (name, data) => {
        if (data === '[DONE]') return;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const piece = chunk.choices?.[0]?.delta?.content;
        if (piece) {
          text += piece;
          setAnswer(text);
        }
      }, {
        signal: controller.signal,
        body: chatBody(form),
        onResponse: (res) => setRun(res.headers.get('x-tutti-run-id') ?? ''),
      });
    } catch (e) {
      if (!controller.signal.aborted) setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (!models) {
    return html`<section><h1>Playground</h1>${error ? html`<${ErrorNote} error=${error} />` : html`<p class="muted" role="status">Loading…</p>`}</section>`;
  }
  const composing = form.target === 'compose';
  const needs = strategies.find(([name]) => name === form.combine)?.[1];
  return html`<section aria-labelledby="play-title">
    <h1 id="play-title">Playground</h1>
    <form class="playground" onSubmit=${ask}>
      <label>Ask
        <select name="target" value=${form.target} onChange=${set('target')}>
          <optgroup label="Ensembles">${models.ensembles.map((n) => html`<option value=${`ensemble/${n}`}>${n}</option>`)}</optgroup>
          <optgroup label="Providers">${models.providers.map((n) => html`<option value=${n}>${n}</option>`)}</optgroup>
          <option value="compose">An ensemble composed here…</option>
        </select>
      </label>
      ${composing && html`<fieldset class="compose">
        <legend>Composed ensemble</legend>
        <div class="choices" role="group" aria-label="Members">${models.providers.map((n) => html`<label class="check">
          <input type="checkbox" name="member" value=${n} checked=${form.members.includes(n)} onChange=${() => toggle(n)} /> ${n}
        </label>`)}</div>
        <label>Until <select name="until" value=${form.until} onChange=${set('until')}>
          ${['all', 'first', 'deadline'].map((u) => html`<option>${u}</option>`)}</select></label>
        <label>Mode <select name="mode" value=${form.mode} onChange=${set('mode')}>
          ${['parallel', 'fallback'].map((u) => html`<option>${u}</option>`)}</select></label>
        <label>Combine <select name="combine" value=${form.combine} onChange=${set('combine')}>
          ${strategies.map(([n]) => html`<option>${n}</option>`)}</select></label>
        ${needs && html`<label>${needs} <select name="helper" value=${form.helper} onChange=${set('helper')}>
          ${models.providers.map((n) => html`<option>${n}</option>`)}</select></label>`}
      </fieldset>`}
      <label class="wide">Question
        <textarea name="question" rows="3" required value=${form.question} onInput=${set('question')}></textarea>
      </label>
      <div class="actions">
        <button type="submit" disabled=${busy}>${busy ? 'Asking…' : 'Ask'}</button>
        ${busy && html`<button type="button" class="secondary" onClick=${() => stop.current?.abort()}>Stop</button>`}
      </div>
    </form>
    ${error && html`<${ErrorNote} error=${error} />`}
    ${(answer || run) && html`<h2>Answer</h2><pre class="text answer" aria-live="polite">${answer}</pre>`}
    ${run && html`<p>Run <code>${run}</code>: <a href=${`#/runs/${encodeURIComponent(run)}`}>the stored run</a></p>`}
    ${run && live.questions.has(run) && html`<${QuestionView} live=${live} run=${run} embedded=${true} />`}
  </section>`;
}
