// Provisioner web console: renders the snapshot that GET /api/v1/events pushes (on connect and on every change).
// Plain DOM, no framework, no build step. Every value from the server goes in as text, never as markup.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const BASE_STAGES = ['ipxe', 'kernel', 'initrd', 'ignition'];
  let snapshot = null;
  let skewMs = 0; // the server's clock minus ours: ages and "stuck" use the server's notion of now

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const now = () => Date.now() + skewMs;

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
    return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
  }

  const ago = (iso) => iso ? `${duration((now() - Date.parse(iso)) / 1000)} ago` : '—';
  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
  const short = (seconds) => seconds < 10 ? `${seconds.toFixed(1)}s` : duration(seconds);

  function isStuck(m) {
    return !m.done && !!m.lastEventAt && now() - Date.parse(m.lastEventAt) > snapshot.stuckAfterSeconds * 1000;
  }

  // Actions that change a machine's state (reprovision) belong here.
  // Changes state, so the server answers only the operator (loopback, or the operator token) and only a JSON post,
  // which another site cannot make a browser send without asking first.
  function machineActions(machine) {
    const button = el('button', { type: 'button', class: 'action', 'data-action': 'reprovision', 'data-machine': machine.name,
      title: 'Provision afresh on the next boot: a new round, its bootstrap tokens revoked' }, 'reprovision');
    button.addEventListener('click', async () => {
      if (!window.confirm(`Reprovision ${machine.name}? Its next boot provisions it afresh and its current bootstrap tokens stop working.`)) return;
      button.disabled = true;
      try {
        const response = await fetch(`/api/v1/machines/${encodeURIComponent(machine.name)}/reprovision`,
          { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
        button.title = response.ok ? 'reprovisioned' : `refused: ${(await response.text()).trim()}`;
      } catch (e) {
        button.title = `failed: ${e}`;
      } finally {
        button.disabled = false;
      }
    });
    return el('span', { 'data-hook': 'machine-actions', 'data-machine': machine.name }, button);
  }

  function timeline(m) {
    const reached = new Set(m.timeline.map((s) => s.stage));
    // Install mode: the installed system reports "installed" after the installer's fetch of the config.
    const installs = reached.has('installed') || m.phase === 'installing' || m.phase === 'installed';
    const expected = [...BASE_STAGES, ...(installs ? ['installed'] : []), ...(m.bootstrap ? ['bootkube.complete'] : []), 'provisioned'];
    const steps = m.timeline.map((s) => el('span', {
      class: `step${s.detail === 'failed' ? ' failed' : ''}${s.stage === 'provisioned' ? ' provisioned' : ''}`,
      'data-stage': s.stage, title: s.detail || null,
    }, s.stage, el('time', { datetime: s.at }, clock(s.at))));
    // Stages still to come; one the machine skipped (a kernel fetched from elsewhere) is not "to come".
    const furthest = Math.max(-1, ...expected.map((s, i) => (reached.has(s) ? i : -1)));
    expected.slice(furthest + 1).forEach((stage) => steps.push(el('span', { class: 'step todo', 'data-stage': stage }, stage)));
    const out = [];
    steps.forEach((s, i) => { if (i > 0) out.push(el('span', { class: 'arrow' }, '→')); out.push(s); });
    return el('div', { class: 'timeline' }, out);
  }

  function machineRow(m) {
    const stuck = isStuck(m);
    const reason = stuck
      ? `no progress for ${duration((now() - Date.parse(m.lastEventAt)) / 1000)}; last: ${m.lastReason || m.state}${m.waiting ? `; waiting for ${m.waiting}` : ''}`
      : (m.lastReason || '');
    return el('tr', { 'data-machine': m.name, 'data-state': m.state, 'data-phase': m.phase, 'data-stuck': String(stuck), class: stuck ? 'stuck' : null },
      el('td', {}, el('strong', {}, m.name), stuck ? [' ', el('span', { class: 'badge stuck' }, 'stuck')] : null,
        reason ? el('div', { class: 'reason' }, reason) : null),
      el('td', {}, m.role),
      el('td', { class: 'mono' }, m.mac || '', m.uuid ? [el('br'), m.uuid] : null),
      el('td', { class: 'mono' }, m.address || '—'),
      el('td', {}, el('span', { class: `badge ${m.phase}` }, m.phase), el('div', { class: 'muted' }, m.state)),
      el('td', {}, timeline(m)),
      el('td', { class: 'age', 'data-at': m.lastEventAt || null }, ago(m.lastEventAt)),
      el('td', {}, machineActions(m)));
  }

  function renderMachines() {
    $('machines').tBodies[0].replaceChildren(...snapshot.machines.map(machineRow));
    $('stuck-after').textContent = duration(snapshot.stuckAfterSeconds);
    const provisioned = snapshot.machines.filter((m) => m.phase === 'provisioned').length;
    const stuck = snapshot.machines.filter(isStuck).length;
    $('summary').textContent = `${snapshot.machines.length} machines · ${provisioned} provisioned · ${stuck} stuck · ${snapshot.discovered.length} discovered`;
  }

  function renderDurations() {
    const stages = snapshot.stageDurations;
    if (stages.length === 0) { $('durations').replaceChildren(el('p', { class: 'muted' }, 'No machine has gone through two stages yet.')); return; }
    const row = 22, label = 190, width = 420, text = 230;
    const longest = Math.max(...stages.map((s) => s.maxSeconds), 0.001);
    const chart = svg('svg', { width: label + width + text, height: stages.length * row + 4, role: 'img', 'aria-label': 'time per stage' });
    stages.forEach((s, i) => {
      const y = i * row + 2;
      chart.append(svg('text', { x: 0, y: y + 14 }, s.stage));
      chart.append(svg('rect', { class: 'max', x: label, y: y + 3, height: 14, width: Math.max(1, (s.maxSeconds / longest) * width) }));
      chart.append(svg('rect', { class: 'bar', x: label, y: y + 3, height: 14, width: Math.max(1, (s.averageSeconds / longest) * width), 'data-stage': s.stage }));
      chart.append(svg('text', { x: label + width + 8, y: y + 14 }, `avg ${short(s.averageSeconds)} · max ${short(s.maxSeconds)} · ${s.machines} machine${s.machines === 1 ? '' : 's'}`));
    });
    $('durations').replaceChildren(chart);
  }

  function renderDiscovered() {
    const list = snapshot.discovered;
    if (list.length === 0) { $('discovered').replaceChildren(el('p', { class: 'muted' }, 'No unknown machine has asked to boot.')); return; }
    $('discovered').replaceChildren(...list.map((d) => el('div', { class: 'discovered', 'data-mac': d.mac || null },
      el('dl', {},
        el('dt', {}, 'MAC'), el('dd', { class: 'mono' }, d.mac || '—'),
        d.uuid ? [el('dt', {}, 'UUID'), el('dd', { class: 'mono' }, d.uuid)] : null,
        d.serial ? [el('dt', {}, 'serial'), el('dd', {}, d.serial)] : null,
        d.hostname ? [el('dt', {}, 'hostname'), el('dd', {}, d.hostname)] : null,
        el('dt', {}, 'from'), el('dd', { class: 'mono' }, d.address || '—'),
        el('dt', {}, 'last seen'), el('dd', { class: 'age', 'data-at': d.lastSeen || null }, ago(d.lastSeen)),
        el('dt', {}, 'sent'), el('dd', {}, d.history.map((h) => `${h.stage} at ${clock(h.at)}`).join(', '))),
      el('div', { class: 'muted' }, 'Add to the profiles to adopt it (profiles reload without a restart):'),
      el('pre', { class: 'adopt' }, d.adoptYaml))));
  }

  function renderApprover() {
    const a = snapshot.approver;
    if (!a) { $('approver').replaceChildren(el('p', { class: 'muted' }, 'No approver status.')); return; }
    const decisions = a.recentDecisions.length === 0 ? el('p', { class: 'muted' }, 'No decisions yet.')
      : el('table', {}, el('thead', {}, el('tr', {}, ['time', 'CSR', 'machine / node', 'decision', 'reason'].map((h) => el('th', {}, h)))),
        el('tbody', {}, a.recentDecisions.map((d) => el('tr', {},
          el('td', {}, clock(d.at)), el('td', { class: 'mono' }, d.csr), el('td', {}, d.machine || d.node || '—'),
          el('td', {}, el('span', { class: `badge decision-${d.decision}` }, d.decision)),
          el('td', {}, d.reason, el('div', { class: 'reason' }, d.message))))));
    $('approver').replaceChildren(
      el('dl', {},
        el('dt', {}, 'state'), el('dd', {}, el('span', { class: `badge ${a.state}`, id: 'approver-state' }, a.state), a.detail ? el('div', { class: 'reason' }, a.detail) : null),
        el('dt', {}, 'leader'), el('dd', {}, a.leader || '—'),
        el('dt', {}, 'this replica'), el('dd', {}, a.identity || '—'),
        el('dt', {}, 'pending CSRs'), el('dd', { id: 'approver-pending' }, String(a.pending)),
        el('dt', {}, 'nodes'), el('dd', {}, String(a.nodes))),
      decisions);
  }

  function renderRelease() {
    const r = snapshot.release && snapshot.release.release;
    if (!r) { $('release').replaceChildren(el('p', { class: 'muted' }, 'The profiles define no release: roles boot from paths below --assets.')); return; }
    const items = [...r.artifacts, ...r.images];
    const present = items.filter((i) => i.present).length;
    const badge = (ok) => el('span', { class: `badge ${ok ? 'present' : 'missing'}` }, ok ? 'present' : 'missing');
    $('release').replaceChildren(
      el('p', {}, `Kubernetes ${r.kubernetesVersion} · ${present} of ${items.length} present `, el('progress', { value: present, max: items.length || 1 })),
      el('table', {}, el('thead', {}, el('tr', {}, ['artifact', 'arch', 'sha256', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, r.artifacts.map((a) => el('tr', {}, el('td', {}, a.name), el('td', {}, a.architecture), el('td', { class: 'mono' }, a.sha256.slice(0, 12)), el('td', {}, badge(a.present)))))),
      el('table', {}, el('thead', {}, el('tr', {}, ['image', 'component', 'digest', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, r.images.map((i) => el('tr', {}, el('td', { class: 'mono' }, i.image), el('td', {}, i.component), el('td', { class: 'mono' }, i.digest.slice(7, 19)), el('td', {}, badge(i.present)))))));
  }

  function render() {
    $('cluster').textContent = snapshot.cluster;
    renderMachines();
    renderDurations();
    renderDiscovered();
    renderApprover();
    renderRelease();
  }

  // Ages and "stuck" move with the clock, not with events: refresh them locally once a second (no request).
  function tick() {
    if (!snapshot) return;
    const stuckBefore = [...document.querySelectorAll('#machines tr[data-stuck="true"]')].length;
    if (snapshot.machines.filter(isStuck).length !== stuckBefore) { renderMachines(); return; }
    for (const cell of document.querySelectorAll('.age[data-at]')) cell.textContent = ago(cell.getAttribute('data-at'));
  }

  function connect() {
    const connection = $('connection');
    // EventSource reconnects by itself (the server asks for 2 s); each reconnect starts with a full snapshot.
    const source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => { connection.dataset.state = 'live'; connection.textContent = 'live'; });
    source.addEventListener('error', () => { connection.dataset.state = 'reconnecting'; connection.textContent = 'reconnecting…'; });
    source.addEventListener('snapshot', (e) => {
      snapshot = JSON.parse(e.data);
      skewMs = Date.parse(snapshot.generatedAt) - Date.now();
      render();
    });
  }

  connect();
  setInterval(tick, 1000);
})();
