// telering dashboard: renders the reader's /events stream (a full snapshot on connect, then
// an update per interval). Everything shown comes from the reader's frames; names written by
// bots are set as text, never as HTML.
'use strict';
(function () {
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  let token = params.get('token') || hash.get('token') || sessionStorage.getItem('telering-token') || '';
  const tokenQuery = () => (token ? '?token=' + encodeURIComponent(token) : '');

  let intervalMs = 500;
  let actions = false;
  let state = null;
  let series = { t: [], values: {} };
  let lastEventAt = 0;
  let connected = false;
  let source = null;
  const charts = {};

  // ---- small DOM helpers ------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const $ = (id) => document.getElementById(id);
  const status = (s) => el('span', { class: 'status ' + (s || 'UNKNOWN') }, s || 'UNKNOWN');
  const num = (v, d = 2) => (v === null || v === undefined || !isFinite(v) ? '–' : Number(v).toFixed(d));
  function secs(v) {
    if (v === null || v === undefined || v < 0) return '–';
    if (v < 60) return v.toFixed(1) + ' s';
    if (v < 3600) return Math.floor(v / 60) + ' min ' + Math.round(v % 60) + ' s';
    return (v / 3600).toFixed(1) + ' h';
  }
  const clock = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '–');
  function table(id, head, rows, empty) {
    const t = $(id);
    t.replaceChildren();
    if (!rows.length) {
      t.append(el('tr', {}, el('td', { class: 'muted' }, empty || 'none')));
      return;
    }
    t.append(el('tr', {}, ...head.map((h) => el('th', h.startsWith('#') ? { class: 'num' } : {}, h.replace(/^#/, '')))));
    for (const r of rows) t.append(el('tr', {}, ...r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c)))));
  }
  const td = (v) => el('td', { class: 'num' }, v);

  // ---- operator actions -------------------------------------------------------------------
  async function act(action, target) {
    if (!token) {
      token = prompt('HTTP secret of this reader (sent as a bearer header, kept for this tab):') || '';
      if (!token) return;
      sessionStorage.setItem('telering-token', token);
    }
    const r = await fetch('api/action', {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ action, target }),
    });
    if (r.status === 401) {
      token = '';
      sessionStorage.removeItem('telering-token');
    }
    if (r.status !== 202) alert(action + ' ' + target + ': ' + r.status + ' ' + (await r.text()));
  }

  // ---- rendering --------------------------------------------------------------------------
  function renderHealth(s) {
    const o = $('overall');
    o.className = 'status ' + s.overall;
    o.textContent = s.overall;
    const rows = s.host.map((c) => [c.name, status(c.status), c.message, td(num(c.value)), td(num(c.warning_at, 0)), td(num(c.critical_above, 0))]);
    table('host-health', ['host component', 'status', 'message', '#value', '#warning at', '#critical above'], rows, 'no report yet');
    const bots = s.bots.map((b) => [
      b.name, status(b.status), td(secs(b.last_record_age_s)),
      el('td', {}, ...b.components.map((c) => el('span', { class: 'chip', title: c.message }, status(c.status), ' ' + c.name.replace(/_/g, ' ')))),
    ]);
    table('bot-health', ['bot', 'status', '#last record', 'checks (hover for the message)'], bots, 'no bot has recorded yet');
  }

  function renderBreakers(s) {
    const box = $('breakers');
    box.replaceChildren();
    if (!s.breakers.length) box.append(el('p', { class: 'muted' }, 'no breaker yet'));
    for (const b of s.breakers) {
      const tile = el('div', { class: 'tile', 'data-state': b.state, 'data-name': b.name },
        el('div', { class: 'row' }, el('span', { class: 'name' }, b.name), status(b.state)),
        el('div', { class: 'row' },
          el('span', { class: 'rate', title: 'failure rate of the window' }, num(b.failure_rate, 1) + '%'),
          el('span', { class: 'facts' }, 'slow ' + num(b.slow_call_rate, 1) + '% · ' + num(b.calls_per_second, 1) + ' calls/s')),
        el('div', { class: 'facts' }, 'in state ' + secs(b.time_in_state_s) +
          (b.next_transition_s >= 0 ? ' · half-open in ' + secs(b.next_transition_s) : '') +
          (b.state === 'HALF_OPEN' ? ' · probes in flight ' + b.probes_in_flight : '')),
        el('div', { class: 'facts' }, 'scope ' + b.scope + (b.bot ? ' (bot ' + b.bot + ')' : '') + ' · window ' + b.calls_in_window +
          ' calls · trips ' + b.trips + (b.last_rule ? ' · last rule ' + b.last_rule : '')));
      if (actions) {
        tile.append(el('button', { onclick: () => act('force_open', b.name) }, 'Force open'),
          el('button', { onclick: () => act('close', b.name) }, 'Close'));
      }
      box.append(tile);
    }
  }

  function renderTables(s) {
    table('errors', ['type', 'severity', '#count', 'first seen', 'last seen', 'message'],
      s.errors.map((e) => [e.type, e.severity, td(e.count), clock(e.first_seen_ms), clock(e.last_seen_ms), (e.component ? e.component + ': ' : '') + e.message]),
      'no errors');
    table('decisions', ['#', 'time', 'subject', 'decision', 'rule'],
      s.decisions.map((d) => [td(d.seq), clock(d.at_ms), d.subject, d.what, d.rule]), 'no decision yet');
    table('backoffs', ['error type', '#remaining', '#incident', '#attempts', ''],
      s.backoffs.map((b) => [b.type, td(secs(b.remaining_s)), td(b.incident), td(b.attempts),
        actions ? el('td', {}, el('button', { onclick: () => act('clear_backoff', b.type) }, 'Clear')) : '']), 'none');
    table('limits', ['group', '#requests', '#per', '#burst', 'state', '#refused'],
      s.rate_limits.map((r) => [r.group, td(r.requests), td(secs(r.period_s)), td(r.burst), r.shrunk ? 'shrunk' : 'normal', td(r.refused)]),
      'no rate limiter configured');
    const rb = s.retry_budget;
    $('budget').textContent = rb.enabled
      ? 'Retry budget: ' + rb.tokens + ' tokens · ' + rb.retries_in_window + ' retries / ' + rb.requests_in_window +
        ' requests in ' + rb.window_seconds + ' s (ratio ' + rb.ratio + ', at least ' + rb.min_retries + ')'
      : 'Retry budget: off';
    table('lanes', ['lane', 'in use', '#fill', '#dropped'],
      s.lanes.map((l) => [l.lane, l.in_use ? 'yes' : 'no', td(num(l.fill * 100, 1) + '%'), td(l.dropped)]), 'no lane in use');
    const r = s.reader;
    $('reader-info').textContent = 'reader pid ' + r.pid + ' · up ' + secs(r.uptime_s) + ' · ' + num(r.records_per_second, 0) +
      ' records/s · ' + r.records + ' records · ' + r.decisions + ' decisions · ' + r.lanes_in_use + ' lanes';
  }

  // ---- charts -----------------------------------------------------------------------------
  const groups = [
    { id: 'scan', title: 'Scan time per bot (s)', match: (n) => n.startsWith('scan:'), label: (n) => n.slice(5) },
    { id: 'api', title: 'API latency p50 / p99 per endpoint (s)', match: (n) => n.startsWith('p50:') || n.startsWith('p99:'), label: (n) => n.slice(4) + ' ' + n.slice(0, 3) },
    { id: 'memory', title: 'Memory per bot (MB)', match: (n) => n.startsWith('memory:'), label: (n) => n.slice(7) },
    { id: 'errors', title: 'Errors and warnings per minute', match: (n) => n === 'errors_per_min' || n === 'warnings_per_min', label: (n) => n.replace('_per_min', '') },
    { id: 'records', title: 'Records drained per second', match: (n) => n === 'records_per_s', label: () => 'records/s' },
    { id: 'drops', title: 'Drops per second (total and per lane)', match: (n) => n === 'drops_per_s' || n.startsWith('drops:'), label: (n) => (n === 'drops_per_s' ? 'all lanes' : n.slice(6)) },
  ];
  const palette = ['#4aa3ff', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f', '#bab0ac'];

  function renderCharts() {
    const box = $('charts');
    const names = Object.keys(series.values).sort();
    const xs = series.t.map((t) => t / 1000);
    for (const g of groups) {
      const mine = names.filter(g.match);
      const key = mine.join('|');
      let c = charts[g.id];
      if (!c) {
        const div = el('div', { class: 'chart', id: 'chart-' + g.id }, el('h3', {}, g.title));
        box.append(div);
        c = charts[g.id] = { div, key: null, plot: null };
      }
      const data = [xs, ...mine.map((n) => series.values[n])];
      if (c.key !== key || !c.plot) {
        if (c.plot) c.plot.destroy();
        const width = Math.max(300, c.div.clientWidth || 460);
        c.plot = new uPlot({
          width, height: 180,
          scales: { x: { time: true } },
          axes: [{ stroke: '#7f8b98', grid: { stroke: '#2a333d' } }, { stroke: '#7f8b98', grid: { stroke: '#2a333d' }, size: 50 }],
          series: [{}, ...mine.map((n, i) => ({ label: g.label(n), stroke: palette[i % palette.length], width: 1.5, spanGaps: false,
            dash: n.startsWith('p99:') ? [4, 3] : undefined }))],
          legend: { live: false },
        }, data, c.div);
        c.key = key;
      } else {
        c.plot.setData(data);
      }
    }
  }

  function addPoints(points) {
    for (const p of points) {
      const n = series.t.length;
      if (n && p.t <= series.t[n - 1]) continue;  // already in the snapshot this stream started with
      series.t.push(p.t);
      for (const col of Object.values(series.values)) col.push(null);
      for (const [name, v] of Object.entries(p.v)) {
        if (!series.values[name]) series.values[name] = new Array(series.t.length).fill(null);
        series.values[name][series.t.length - 1] = v;
      }
    }
    const horizon = series.t.length ? series.t[series.t.length - 1] - 600000 : 0;
    let drop = 0;
    while (drop < series.t.length && series.t[drop] <= horizon) drop++;
    if (drop) {
      series.t.splice(0, drop);
      for (const col of Object.values(series.values)) col.splice(0, drop);
    }
    for (const [name, col] of Object.entries(series.values)) if (col.every((v) => v === null)) delete series.values[name];
  }

  function render() {
    if (!state) return;
    renderHealth(state);
    renderBreakers(state);
    renderTables(state);
    renderCharts();
  }

  // ---- the stream -------------------------------------------------------------------------
  function onSnapshot(e) {
    const d = JSON.parse(e.data);
    intervalMs = d.interval_ms;
    actions = d.actions;
    $('access').textContent = actions ? 'operator actions: on (bearer secret)' : 'read-only';
    state = d.state;
    series = { t: d.series.t.slice(), values: {} };
    for (const [k, v] of Object.entries(d.series.values)) series.values[k] = v.slice();
    lastEventAt = Date.now();
    render();
  }
  function onUpdate(e) {
    const d = JSON.parse(e.data);
    state = d.state;
    addPoints(d.points);
    lastEventAt = Date.now();
    render();
  }
  function connect() {
    source = new EventSource('events' + tokenQuery());
    source.addEventListener('snapshot', onSnapshot);
    source.addEventListener('update', onUpdate);
    source.onopen = () => { connected = true; };
    source.onerror = () => {
      connected = false;
      // A refused stream (503 at the cap, 401) is not retried by EventSource: we do, later.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
  }

  // The banner: disconnected (the stream broke; EventSource reconnects by itself) or stale
  // (connected, but the reader's drain loop published nothing for three intervals).
  function watch() {
    const banner = $('banner');
    const conn = $('connection');
    const age = Date.now() - lastEventAt;
    const staleAfter = Math.max(3 * intervalMs, 2000);
    let text = '';
    if (!connected) text = 'Disconnected from telering-reader — reconnecting…' + (lastEventAt ? ' (last data ' + Math.round(age / 1000) + ' s ago)' : '');
    else if (lastEventAt && age > staleAfter) text = 'Stale: no data from the reader for ' + Math.round(age / 1000) + ' s';
    banner.hidden = !text;
    banner.textContent = text;
    banner.className = 'banner' + (connected ? ' stale' : '');
    // The reader's heartbeat as the page sees it: the age of the newest frame it sent.
    const beat = state && state.at_ms ? ' · reader heartbeat ' + Math.max(0, (Date.now() - state.at_ms) / 1000).toFixed(1) + ' s ago' : '';
    conn.textContent = (connected ? 'live' : 'disconnected') + beat;
    conn.className = 'conn ' + (connected ? 'live' : 'down');
  }

  connect();
  setInterval(watch, 250);
})();
