// The Switchboard admin page: signs in with the admin token, polls the admin JSON API every second, and shows
// connections, channels, resources, rooms, plugs, live charts (from deltas of /metrics counters) and an audit search.
// Plain browser JavaScript, no build step. Every value from the server is put in the page as text, never as HTML.
/* global document, window, sessionStorage, fetch, location, setTimeout, clearTimeout, URLSearchParams, ResizeObserver, uPlot */
'use strict';

(() => {
  const POLL_MS = 1000;
  /** Points each chart keeps (two minutes at one poll a second). */
  const WINDOW = 120;
  const TOKEN_KEY = 'switchboard.adminToken';
  /** The admin API prefix: this page lives at `<adminPath>/`. */
  const API = location.pathname.replace(/\/+$/, '');

  const $ = (id) => document.getElementById(id);
  const state = {
    /** The token in use: a string, or null when the server answers without one (loopback, no adminToken). */
    token: null,
    timer: undefined,
    /** The previous /metrics totals, for rates. */
    previous: undefined,
    charts: {},
    series: { time: [], rateIn: [], rateOut: [], sizeIn: [], sizeOut: [], handlerMs: [], connections: [] },
    hasStore: undefined,
    /** Audit searches sent, so a slow answer does not overwrite a newer one. */
    searches: 0,
  };

  // ------------------------------------------------------------------ the API

  async function api(path, token = state.token) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${API}${path}`, { headers, cache: 'no-store' });
    let body;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  const errorText = (answer) => answer.body?.error?.message ?? `HTTP ${answer.status}`;

  // ------------------------------------------------------------------ signing in

  function showSignIn(message) {
    stopPolling();
    $('dashboard').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    const error = $('sign-in-error');
    error.hidden = !message;
    error.textContent = message ?? '';
    setStatus('signed out');
    $('token').focus();
  }

  function showDashboard() {
    $('sign-in').hidden = true;
    $('sign-in-error').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = state.token === null;
    ensureCharts();
    startPolling();
  }

  /** Tries a token (or none); resolves to null when accepted, else the message to show. */
  async function trySignIn(token) {
    let answer;
    try {
      answer = await api('/metrics', token);
    } catch (error) {
      return `The server did not answer: ${error.message}`;
    }
    if (answer.status === 200) {
      state.token = token;
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      return null;
    }
    if (answer.status === 401) return token ? 'That token was refused (401): check the server\'s adminToken.' : '';
    if (answer.status === 403) return `Refused (403): ${errorText(answer)}.`;
    return `Sign-in failed: ${errorText(answer)}`;
  }

  async function start() {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    // First without a token: a loopback client of a server with no adminToken is answered at once.
    const open = await trySignIn(null);
    if (open === null) return showDashboard();
    if (saved) {
      const message = await trySignIn(saved);
      if (message === null) return showDashboard();
      sessionStorage.removeItem(TOKEN_KEY);
      return showSignIn(message);
    }
    showSignIn(open || undefined);
  }

  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    const message = await trySignIn(token);
    if (message === null) {
      $('token').value = '';
      showDashboard();
    } else showSignIn(message || 'That token was refused.');
  });

  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    showSignIn();
  });

  // ------------------------------------------------------------------ polling

  function startPolling() {
    stopPolling();
    const tick = async () => {
      try {
        await poll();
      } catch (error) {
        setStatus(`poll failed: ${error.message}`, true);
      }
      if (!$('dashboard').hidden) state.timer = setTimeout(tick, POLL_MS);
    };
    void tick();
  }

  function stopPolling() {
    clearTimeout(state.timer);
    state.timer = undefined;
  }

  async function poll() {
    const paths = ['/metrics', '/connections', '/channels', '/resources', '/rooms', '/plugs', '/plugs/history'];
    const answers = await Promise.all(paths.map((path) => api(path)));
    if (answers.some((answer) => answer.status === 401 || answer.status === 403)) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showSignIn('The server no longer accepts this token; sign in again.');
    }
    const [metrics, connections, channels, resources, rooms, plugs, history] = answers.map((answer) => (answer.status === 200 ? answer.body : undefined));
    if (metrics) renderMetrics(metrics);
    if (connections) renderConnections(connections.connections);
    if (channels) renderChannels(channels.channels);
    if (resources) renderResources(resources.resources);
    if (rooms) renderRooms(rooms.rooms);
    if (plugs) renderPlugs(plugs.plugs);
    if (history) renderPlugHistory(history.history);
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  }

  function setStatus(text, bad = false) {
    const status = $('status');
    status.textContent = text;
    status.classList.toggle('bad', bad);
  }

  // ------------------------------------------------------------------ rendering helpers

  /** Replaces a table's rows; each row is a list of cells (text, or { text, title, className }). */
  function fillTable(id, rows, empty) {
    const body = $(id).tBodies[0];
    const fragment = document.createDocumentFragment();
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = $(id).tHead.rows[0].cells.length;
      td.className = 'empty';
      td.textContent = empty;
      tr.append(td);
      fragment.append(tr);
    }
    for (const row of rows) {
      const tr = document.createElement('tr');
      if (row.id !== undefined) tr.dataset.id = row.id;
      for (const cell of row.cells) {
        const td = document.createElement('td');
        const value = cell !== null && typeof cell === 'object' ? cell : { text: cell };
        td.textContent = value.text === undefined || value.text === null ? '' : String(value.text);
        if (value.title) td.title = value.title;
        if (value.className) td.className = value.className;
        tr.append(td);
      }
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
  }

  const num = (value) => ({ text: formatNumber(value), className: 'num' });
  function formatNumber(value) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
    return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 2 });
  }
  function formatBytes(value) {
    if (typeof value !== 'number') return '–';
    if (value < 1024) return `${value} B`;
    if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
    if (value < 1024 ** 3) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
    return `${(value / 1024 ** 3).toFixed(2)} GiB`;
  }
  function ago(iso) {
    const ms = Date.now() - Date.parse(iso);
    if (!Number.isFinite(ms)) return '';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }
  const when = (iso) => ({ text: ago(iso), title: new Date(iso).toLocaleString() });
  const count = (id, n) => ($(id).textContent = String(n));
  function duration(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${seconds % 60}s` : `${seconds}s`;
  }

  // ------------------------------------------------------------------ cards

  function renderMetrics(metrics) {
    const now = Date.now();
    let countIn = 0;
    let countOut = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let handled = 0;
    let handlerMs = 0;
    const rows = [];
    for (const [type, stats] of Object.entries(metrics.messages ?? {})) {
      countIn += stats.inbound.count;
      countOut += stats.outbound.count;
      bytesIn += stats.inbound.bytes;
      bytesOut += stats.outbound.bytes;
      handled += stats.handler.count;
      handlerMs += stats.handler.meanMs * stats.handler.count;
      rows.push({
        id: type,
        cells: [
          type,
          num(stats.inbound.count),
          num(stats.outbound.count),
          { text: formatBytes(stats.inbound.bytes), className: 'num' },
          { text: formatBytes(stats.outbound.bytes), className: 'num' },
          num(stats.handler.count),
          num(stats.handler.errors),
          num(stats.handler.meanMs),
          num(stats.handler.p50Ms),
          num(stats.handler.p99Ms),
          num(stats.handler.maxMs),
        ],
      });
    }
    rows.sort((a, b) => a.id.localeCompare(b.id));
    fillTable('types', rows, 'no messages yet');

    const totals = { at: now, countIn, countOut, bytesIn, bytesOut, handled, handlerMs };
    const previous = state.previous;
    state.previous = totals;
    const open = metrics.connections?.open ?? 0;
    if (previous !== undefined) {
      const seconds = Math.max(0.001, (now - previous.at) / 1000);
      // A counter that went down means the server restarted: start the deltas again from zero.
      const delta = (key) => Math.max(0, totals[key] - previous[key]);
      const inCount = delta('countIn');
      const outCount = delta('countOut');
      const handledCount = delta('handled');
      push({
        time: now / 1000,
        rateIn: inCount / seconds,
        rateOut: outCount / seconds,
        sizeIn: inCount > 0 ? delta('bytesIn') / inCount : null,
        sizeOut: outCount > 0 ? delta('bytesOut') / outCount : null,
        handlerMs: handledCount > 0 ? delta('handlerMs') / handledCount : null,
        connections: open,
      });
    }

    const summary = [
      ['uptime', duration(metrics.uptimeSeconds ?? 0)],
      ['connections', formatNumber(open)],
      ['opened / closed', `${formatNumber(metrics.connections?.opened)} / ${formatNumber(metrics.connections?.closed)}`],
      ['in flight', formatNumber(metrics.inFlight)],
      ['msgs in / s', formatNumber(last(state.series.rateIn))],
      ['msgs out / s', formatNumber(last(state.series.rateOut))],
      ['rooms', formatNumber(metrics.rooms?.instances)],
    ];
    if (metrics.audit) summary.push(['audit queued', formatNumber(metrics.audit.queued)], ['store', metrics.audit.storeAvailable ? 'available' : 'UNAVAILABLE']);
    const box = $('summary');
    box.replaceChildren(
      ...summary.map(([label, value]) => {
        const item = document.createElement('div');
        item.className = 'stat';
        const v = document.createElement('span');
        v.className = 'value';
        v.textContent = value;
        const l = document.createElement('span');
        l.className = 'label';
        l.textContent = label;
        item.append(v, l);
        return item;
      }),
    );
    setAuditAvailable(metrics.audit !== undefined);
  }

  const last = (values) => (values.length > 0 ? values[values.length - 1] : undefined);

  function renderConnections(connections) {
    count('connections-count', connections.length);
    const rows = connections
      .slice()
      .sort((a, b) => Date.parse(b.connectedAt) - Date.parse(a.connectedAt))
      .map((c) => ({
        id: c.id,
        cells: [
          { text: c.id, className: 'mono' },
          c.identity?.id ?? { text: 'anonymous', className: 'muted' },
          { text: c.remoteAddress, title: c.userAgent },
          when(c.connectedAt),
          { text: `${formatNumber(c.messagesIn)} / ${formatNumber(c.messagesOut)}`, className: 'num' },
          { text: `${formatBytes(c.bytesIn)} / ${formatBytes(c.bytesOut)}`, className: 'num' },
          (c.channels ?? []).join(', '),
        ],
      }));
    fillTable('connections', rows, 'no open connections');
  }

  function renderChannels(channels) {
    count('channels-count', channels.length);
    fillTable(
      'channels',
      channels.map((c) => ({ id: c.name, cells: [c.name, c.kind, num(c.subscribers), c.members === undefined ? { text: '–', className: 'num muted' } : num(c.members)] })),
      'no channel has subscribers',
    );
  }

  function renderResources(resources) {
    count('resources-count', resources.length);
    fillTable(
      'resources',
      resources.map((r) => ({ id: r.name, cells: [r.name, r.plug, num(r.records), num(r.views), num(r.subscribers)] })),
      'no resources declared',
    );
  }

  function renderRooms(rooms) {
    count('rooms-count', rooms.length);
    fillTable(
      'rooms',
      rooms.map((r) => {
        const present = r.members.filter((m) => m.present).length;
        return {
          id: r.id,
          cells: [
            { text: r.id, className: 'mono', title: `created ${new Date(r.createdAt).toLocaleString()}` },
            { text: r.kind, title: `${r.plug} ${r.plugVersion}` },
            { text: `${present} / ${r.members.length}`, className: 'num', title: r.members.map((m) => m.id).join(', ') },
            { text: formatNumber(r.restarts), className: r.restarts > 0 ? 'num warn' : 'num' },
            r.isolation,
          ],
        };
      }),
      'no room instances',
    );
  }

  function renderPlugs(plugs) {
    count('plugs-count', plugs.length);
    fillTable(
      'plugs',
      plugs.map((p) => ({ id: p.name, cells: [p.name, { text: p.version, className: 'mono' }, { text: formatNumber(p.messages.length), className: 'num', title: p.messages.join(', ') }, { text: p.file ?? '(static)', className: 'muted' }] })),
      'no plugs loaded',
    );
  }

  function renderPlugHistory(history) {
    fillTable(
      'plug-history',
      history.map((h) => ({
        cells: [
          when(h.at),
          { text: h.event, className: `event ${h.event}` },
          h.name ?? '',
          { text: h.previousVersion ? `${h.previousVersion} → ${h.version}` : (h.version ?? ''), className: 'mono' },
          { text: h.error ?? h.file ?? '', title: h.error ?? h.file ?? '' },
        ],
      })),
      'nothing loaded or swapped yet',
    );
  }

  // ------------------------------------------------------------------ charts (uPlot)

  const CHARTS = {
    rate: { element: 'chart-rate', series: [['in', 'rateIn', '#4fc3f7'], ['out', 'rateOut', '#ffb74d']] },
    size: { element: 'chart-size', series: [['in', 'sizeIn', '#4fc3f7'], ['out', 'sizeOut', '#ffb74d']] },
    handler: { element: 'chart-handler', series: [['mean', 'handlerMs', '#81c784']] },
    connections: { element: 'chart-connections', series: [['open', 'connections', '#ce93d8']] },
  };

  function chartData(spec) {
    return [state.series.time, ...spec.series.map(([, key]) => state.series[key])];
  }

  function ensureCharts() {
    if (Object.keys(state.charts).length > 0 || typeof uPlot === 'undefined') return;
    const axis = { stroke: '#9aa4b2', grid: { stroke: '#2a3240', width: 1 }, ticks: { stroke: '#2a3240' } };
    for (const [name, spec] of Object.entries(CHARTS)) {
      const element = $(spec.element);
      const options = {
        width: Math.max(200, element.clientWidth),
        height: 160,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [axis, { ...axis, size: 50 }],
        series: [{}, ...spec.series.map(([label, , color]) => ({ label, stroke: color, width: 2, fill: `${color}22`, spanGaps: false, points: { show: false } }))],
      };
      state.charts[name] = new uPlot(options, chartData(spec), element);
    }
    const resize = () => {
      for (const [name, spec] of Object.entries(CHARTS)) state.charts[name].setSize({ width: Math.max(200, $(spec.element).clientWidth), height: 160 });
    };
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(resize).observe($('dashboard'));
  }

  function push(point) {
    const series = state.series;
    for (const key of Object.keys(series)) {
      series[key].push(point[key]);
      if (series[key].length > WINDOW) series[key].shift();
    }
    for (const [name, spec] of Object.entries(CHARTS)) {
      state.charts[name]?.setData(chartData(spec));
      const element = $(spec.element);
      // For tests and scripts: the newest values, as data attributes.
      element.dataset.points = String(series.time.length);
      element.dataset.last = JSON.stringify(spec.series.map(([, key]) => last(series[key])));
    }
  }

  // ------------------------------------------------------------------ audit search

  function setAuditAvailable(available) {
    if (state.hasStore === available) return;
    state.hasStore = available;
    const note = $('audit-note');
    note.hidden = available;
    note.textContent = available ? '' : 'This server has no store configured: nothing is recorded, so there is nothing to search. Set the store option (docs/operations.md).';
    for (const control of $('audit-form').elements) control.disabled = !available;
  }

  $('audit-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new window.FormData(event.target);
    const query = new URLSearchParams();
    for (const [key, raw] of form) {
      const value = String(raw).trim();
      if (!value) continue;
      // datetime-local is local time without a zone: send it as ms since the epoch.
      query.set(key, key === 'since' ? String(new Date(value).getTime()) : value);
    }
    const status = $('audit-status');
    status.textContent = 'searching…';
    const search = ++state.searches;
    const answer = await api(`/audit?${query}`);
    if (search !== state.searches) return; // a newer search was sent meanwhile: its answer wins
    if (answer.status === 404 && answer.body?.error?.code === 'no_store') {
      setAuditAvailable(false);
      status.textContent = errorText(answer);
      return fillTable('audit-results', [], 'no store');
    }
    if (answer.status !== 200) {
      status.textContent = `search failed: ${errorText(answer)}`;
      return;
    }
    const records = answer.body.records;
    status.textContent = `${records.length} record${records.length === 1 ? '' : 's'}, newest first`;
    fillTable(
      'audit-results',
      records.map((r) => {
        // A request is one record with its reply: its details then the reply's.
        const details = r.reply === undefined ? r.data : { ...r.data, reply: r.reply.data };
        const data = details === undefined ? '' : JSON.stringify(details);
        const outcome = r.reply === undefined ? (r.outcome ?? '') : `${r.outcome ?? ''} → ${r.reply.outcome}`;
        return {
          id: String(r.id),
          cells: [
            { text: new Date(r.at).toLocaleString(), title: new Date(r.at).toISOString() },
            r.type,
            r.identityId ?? '',
            { text: r.connectionId ?? '', className: 'mono' },
            r.messageType ?? '',
            r.channel ?? r.room ?? r.resource ?? '',
            r.size === undefined ? '' : r.reply === undefined ? num(r.size) : `${num(r.size)} → ${num(r.reply.size)}`,
            { text: outcome, className: outcome.split(' → ').some((o) => o !== 'ok' && o !== '') ? 'warn' : '' },
            { text: data.length > 120 ? `${data.slice(0, 120)}…` : data, title: data, className: 'mono' },
          ],
        };
      }),
      'no matching records',
    );
  });

  // For tests and the browser console.
  window.switchboardAdmin = state;
  void start();
})();
