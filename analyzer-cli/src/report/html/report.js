// memscope HTML report: draws the page from the JSON data element.
// Every string from the trace reaches the page through textContent or setAttribute,
// never as markup. Nothing is loaded from anywhere.
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('memscope-data').textContent);
  var doc = data.report;
  var app = document.getElementById('app');

  // ---------------------------------------------------------------- helpers

  // An HTML element: el('td', {className: 'num'}, 'text', childNode, ...).
  function el(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === 'className') e.className = props[k];
        else if (k === 'text') e.textContent = props[k];
        else e.setAttribute(k, props[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }

  function append(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(parent, c); });
    else if (typeof child === 'string' || typeof child === 'number') parent.appendChild(document.createTextNode(String(child)));
    else parent.appendChild(child);
  }

  // An SVG element with attributes.
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function thousands(n) {
    var s = String(Math.round(n));
    return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  function plural(n, one, many) { return thousands(n) + ' ' + (n === 1 ? one : many); }

  // 1536 -> "1.5 KiB"; exact below 1 KiB.
  function bytes(n) {
    var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    if (n < 1024) return plural(n, 'byte', 'bytes');
    var v = n, u = -1;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ' + units[u];
  }

  function bytesShort(n) { return n < 1024 ? n + ' B' : bytes(n); }

  function duration(ns) {
    if (ns < 1e3) return ns + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + ' \u00b5s';
    if (ns < 1e9) return (ns / 1e6).toFixed(1) + ' ms';
    return (ns / 1e9).toFixed(2) + ' s';
  }

  function pct(part, whole) {
    if (!whole) return '0%';
    var p = 100 * part / whole;
    return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';
  }

  function basename(path) {
    var i = path.lastIndexOf('/');
    return i < 0 ? path : path.slice(i + 1);
  }

  // One frame as the text report prints it: function (file:line) [module] (inlined).
  function frameNodes(f) {
    var parts = [el('span', {className: 'fn', text: f.function !== null && f.function !== undefined ? f.function : f.address})];
    if (f.file) {
      parts.push(' ', el('span', {className: 'loc', text: '(' + basename(f.file) + (f.line ? ':' + f.line : '') + ')'}));
    }
    if (f.module) {
      parts.push(' ', el('span', {className: 'mod', text: '[' + basename(f.module) + (f.binary_changed ? ', binary changed since the run' : '') + ']'}));
    }
    if (f.inlined) parts.push(' ', el('span', {className: 'inl', text: '(inlined)'}));
    return parts;
  }

  function frameText(f) {
    var s = f.function || f.address;
    if (f.file) s += ' (' + basename(f.file) + (f.line ? ':' + f.line : '') + ')';
    return s;
  }

  function stackList(frames) {
    var ol = el('ol', {className: 'stack'});
    if (!frames || frames.length === 0) ol.appendChild(el('li', {text: '(no stack recorded)'}));
    (frames || []).forEach(function (f) {
      var li = el('li', {title: f.address + (f.module ? ' in ' + f.module : '') + (f.file ? ' ' + f.file : '')});
      append(li, frameNodes(f));
      ol.appendChild(li);
    });
    return ol;
  }

  // The first frame with a function name: where a stack is "at", for a one-line summary.
  function firstNamed(frames) {
    for (var i = 0; i < (frames || []).length; i++) if (frames[i].function) return frames[i];
    return frames && frames.length ? frames[0] : null;
  }

  // A collapsible stack: summary = the site (the program's own frame) when the report
  // has one, else the first named frame; body = all frames.
  function stackDetails(frames, site) {
    var top = site || firstNamed(frames);
    return el('details', {className: 'stack-details'},
      el('summary', {className: 'mono', text: top ? siteText(top) : '(no stack recorded)'}),
      stackList(frames));
  }

  // A site or frame in one line: function (file:line), or module+offset without symbols.
  function siteText(f) {
    if (!f.function && f.module && f.module_offset) return basename(f.module) + '+' + f.module_offset;
    return frameText(f);
  }

  function section(id, title, note) {
    var s = el('section', {id: id}, el('h2', {text: title}));
    if (note) s.appendChild(el('p', {className: 'note', text: note}));
    app.appendChild(s);
    return s;
  }

  function table(headers, rows) {
    var thead = el('thead', null, el('tr', null, headers.map(function (h) {
      var numeric = h.charAt(0) === '#';
      return el('th', {className: numeric ? 'num' : '', text: numeric ? h.slice(1) : h});
    })));
    return el('div', {className: 'table-wrap'}, el('table', null, thead, el('tbody', null, rows)));
  }

  function num(text) { return el('td', {className: 'num', text: text}); }

  function barCell(value, max) {
    var bar = el('div', {className: 'bar'});
    bar.style.width = (max > 0 ? Math.max(0.5, 100 * value / max) : 0) + '%';
    return el('td', {className: 'bar-cell'}, bar);
  }

  // ---------------------------------------------------------------- leak kinds and holders

  // valgrind's four kinds, worst first, as the report's JSON names them.
  var LEAK_KINDS = [
    {key: 'definitely_lost', label: 'Definitely lost', lost: true},
    {key: 'indirectly_lost', label: 'Indirectly lost', lost: true},
    {key: 'possibly_lost', label: 'Possibly lost', lost: false},
    {key: 'still_reachable', label: 'Still reachable', lost: false}
  ];

  function kindWords(kind) {
    return kind ? kind.replace('_', ' ') : '';
  }

  function located(h) {
    if (!h.file) return null;
    return basename(h.file) + (h.line ? ':' + h.line : '');
  }

  // One holder in words (as the text report says it); `heldBy`: a heap holder is the
  // lost block of an indirectly lost group, else a block on a chain.
  function holderText(h, heldBy) {
    var thread = h.thread === null || h.thread === undefined ? '?' : String(h.thread);
    var at = located(h);
    switch (h.kind) {
      case 'global':
        return (h.symbol ? 'global ' + h.symbol : 'a global') +
          (at ? ' (' + at + ')' : h.module ? ' in ' + basename(h.module) : '');
      case 'stack': return 'stack of thread ' + thread + (h.symbol ? ' in ' + h.symbol : '');
      case 'tls': return 'thread-local of thread ' + thread;
      case 'register': return 'register of thread ' + thread;
      case 'anonymous': return 'anonymous memory (not heap, not a module)';
      default:
        return (heldBy ? 'the lost block allocated at ' : 'block allocated at ') + (h.symbol || '?') +
          (at ? ' (' + at + ')' : '');
    }
  }

  // The "held by" cell: one line per holder, then the chain from a root when there is one.
  function holdersCell(l) {
    var td = el('td', {className: 'held-by'});
    (l.held_by || []).forEach(function (h) {
      td.appendChild(el('div', {className: 'holder', 'data-kind': h.kind, text: holderText(h, true)}));
    });
    if (l.chain && l.chain.length > 1) {
      var ol = el('ol', {className: 'chain'});
      l.chain.forEach(function (h) { ol.appendChild(el('li', {text: holderText(h, false)})); });
      ol.appendChild(el('li', {text: 'this block'}));
      td.appendChild(el('details', {className: 'chain-details'}, el('summary', {text: 'path from the root'}), ol));
    }
    return td;
  }

  // ---------------------------------------------------------------- header and summary

  var SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL',
    'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP',
    'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO',
    'SIGPWR', 'SIGSYS'];

  // How the process ended, as the text report words it.
  function exitWords(e) {
    if (e.how === 'signal') {
      var name = SIGNALS[e.code - 1];
      return 'killed by signal ' + e.code + (name ? ' (' + name + ')' : '');
    }
    if (e.how === 'exec') return 'replaced by exec';
    if (e.how === '_exit') return 'exited with status ' + e.code + ' (_exit)';
    return 'exited with status ' + e.code;
  }

  function atReport() { return doc.trace.at_ns !== undefined && doc.trace.at_ns !== null; }

  // "Live at exit", or "Live at 1.2 ms" for an --at report.
  function liveWhen() { return atReport() ? 'Live at ' + duration(doc.trace.at_ns) : 'Live at exit'; }

  function header() {
    var t = doc.trace, s = doc.summary;
    document.title = 'memscope: ' + basename(t.exe || '?') + ' (pid ' + t.pid + ')';
    var h = el('header', {id: 'summary'});
    h.appendChild(el('h1', null, 'memscope report: ', el('span', {className: 'exe mono', text: t.exe || '?'})));
    var meta = el('p', {className: 'meta'});
    append(meta, el('span', {text: 'pid ' + t.pid}));
    if (t.origin === 'fork_child') append(meta, el('span', {text: 'forked from ' + t.ppid}));
    append(meta, el('span', {text: 'ran ' + duration(t.duration_ns)}));
    if (t.exit) append(meta, el('span', {id: 'exit-status', text: exitWords(t.exit)}));
    else append(meta, el('span', {text: 'no exit recorded'}));
    h.appendChild(meta);
    if (t.args && t.args.length) {
      h.appendChild(el('p', {className: 'meta mono', id: 'command-line', text: '$ ' + t.args.join(' ')}));
    }
    (doc.warnings || []).forEach(function (w) {
      h.appendChild(el('div', {className: 'banner warning', 'data-kind': w.kind}, 'Warning: ', w.message));
    });
    if (t.truncated) {
      h.appendChild(el('div', {className: 'banner error'},
        'The trace is truncated at byte offset ' + t.truncated_at + ': the numbers cover what was complete.'));
    }
    if (t.inconsistencies > 0) {
      h.appendChild(el('div', {className: 'banner warning'},
        plural(t.inconsistencies, 'inconsistency', 'inconsistencies') + ' in the replay (an allocation at a live address, or a free of an unknown one).'));
    }
    if (atReport()) {
      h.appendChild(el('div', {className: 'banner info', id: 'at-moment'},
        'Analyzed at ' + duration(t.at_ns) + ' after the start: the blocks listed as live are those live then.'));
    }
    if (!s.leak_kinds && (t.at_ns === undefined || t.at_ns === null)) {
      h.appendChild(el('div', {className: 'banner info', id: 'no-leak-kinds'},
        'No leak kinds: the trace has no leak check at exit (the process was killed by SIGKILL, or an older tracer); every block live at exit is listed.'));
    }
    if (t.origin === 'fork_child' && t.inherited_frees > 0) {
      h.appendChild(el('div', {className: 'banner info'},
        plural(t.inherited_frees, 'free', 'frees') + ' of blocks allocated by the parent before fork.'));
    }

    var cards = el('div', {className: 'cards'});
    function card(label, value, sub, cls) {
      cards.appendChild(el('div', {className: 'card' + (cls ? ' ' + cls : '')},
        el('div', {className: 'label', text: label}),
        el('div', {className: 'value', text: value}),
        sub ? el('div', {className: 'sub', text: sub}) : null));
    }
    card('Allocations', thousands(s.allocations), s.failed_allocations ? thousands(s.failed_allocations) + ' failed' : null);
    card('Frees', thousands(s.frees));
    card('Bytes allocated', bytes(s.bytes_allocated), plural(s.bytes_allocated, 'byte', 'bytes'));
    card('Peak live', bytes(s.peak_live_bytes), 'at ' + duration(doc.metrics.peak.time_ns));
    card(liveWhen() + ': program', bytes(s.program_leaks.bytes), plural(s.program_leaks.blocks, 'block', 'blocks'),
      s.program_leaks.bytes > 0 ? 'bad' : null);
    card(liveWhen() + ': runtime-internal', bytes(s.runtime_internal.bytes), plural(s.runtime_internal.blocks, 'block', 'blocks') + ' (libc, ld.so, runtimes)');
    if (s.leak_kinds) {
      LEAK_KINDS.forEach(function (k) {
        var n = s.leak_kinds[k.key];
        card(k.label, bytes(n.bytes), plural(n.blocks, 'block', 'blocks'),
          n.bytes > 0 && k.lost ? 'bad' : null);
      });
    }
    card('Threads', thousands(s.threads));
    card('Findings', thousands(doc.findings.length), null, doc.findings.length ? 'bad' : null);
    card('Inconsistencies', thousands(t.inconsistencies), null, t.inconsistencies ? 'warn' : null);
    h.appendChild(cards);
    app.appendChild(h);
  }

  // ---------------------------------------------------------------- memory over time

  function niceStep(max, ticks) {
    var raw = max / ticks;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) return steps[i] * mag;
    return 10 * mag;
  }

  // A step for a bytes axis: a round number of the largest binary unit below the maximum.
  function niceBytesStep(max, ticks) {
    var unit = 1;
    while (unit * 1024 <= max) unit *= 1024;
    return Math.max(1, niceStep(max / unit, ticks) * unit);
  }

  function chart() {
    var s = section('timeline', 'Memory over time',
      'Live heap bytes at the end of each time bucket (line) and the most live during it (band); the dot marks the peak.');
    var tl = doc.metrics.timeline, peak = doc.metrics.peak;
    var buckets = tl.buckets || [];
    if (buckets.length === 0) {
      s.appendChild(el('p', {className: 'empty', text: 'No allocations in the trace: nothing to draw.'}));
      return;
    }
    var W = 1000, H = 280, L = 78, R = 18, T = 18, B = 34;
    var end = Math.max(doc.trace.duration_ns, peak.time_ns, 1);
    var maxY = peak.bytes;
    buckets.forEach(function (b) { maxY = Math.max(maxY, b.max_live_bytes, b.live_bytes); });
    if (maxY <= 0) maxY = 1;
    var yStep = niceBytesStep(maxY, 4);
    var yTop = Math.ceil(maxY / yStep) * yStep;
    function x(ns) { return L + (W - L - R) * Math.min(ns, end) / end; }
    function y(b) { return T + (H - T - B) * (1 - b / yTop); }

    var root = svg('svg', {id: 'memory-chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'aria-label': 'Live heap bytes over time'});
    for (var v = 0; v <= yTop + yStep / 2; v += yStep) {
      root.appendChild(svg('line', {'class': 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v)}));
      var ty = svg('text', {'class': 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end'});
      ty.textContent = bytesShort(v);
      root.appendChild(ty);
    }
    var xStep = niceStep(end, 6);
    for (var tx = 0; tx <= end + xStep / 2; tx += xStep) {
      if (tx > end) break;
      var label = svg('text', {'class': 'tick', x: x(tx), y: H - B + 18, 'text-anchor': 'middle'});
      label.textContent = duration(Math.round(tx));
      root.appendChild(label);
      root.appendChild(svg('line', {'class': 'axis', x1: x(tx), x2: x(tx), y1: H - B, y2: H - B + 4}));
    }
    root.appendChild(svg('line', {'class': 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
    root.appendChild(svg('line', {'class': 'axis', x1: L, x2: L, y1: T, y2: H - B}));

    // Band: the most live in each bucket, as steps.
    var band = ['M', x(0), y(0)];
    buckets.forEach(function (b, i) {
      var x0 = x(b.start_ns), x1 = x(b.start_ns + tl.bucket_ns);
      band.push('L', x0, y(b.max_live_bytes), 'L', x1, y(b.max_live_bytes));
      if (i === buckets.length - 1) band.push('L', x1, y(0));
    });
    band.push('Z');
    root.appendChild(svg('path', {'class': 'max-area', id: 'max-live-band', d: band.join(' ')}));

    // Line: live bytes at the end of each bucket, from 0 at the start.
    var pts = [[x(0), y(0)]];
    buckets.forEach(function (b) { pts.push([x(b.start_ns + tl.bucket_ns), y(b.live_bytes)]); });
    root.appendChild(svg('polyline', {'class': 'live', id: 'live-line',
      points: pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' ')}));

    // The peak.
    var px = x(peak.time_ns), py = y(peak.bytes);
    root.appendChild(svg('circle', {'class': 'peak', id: 'peak-marker', cx: px, cy: py, r: 5}));
    var pl = svg('text', {'class': 'peak-label', x: px + (px > W - 260 ? -9 : 9), y: Math.max(py - 8, T + 10),
      'text-anchor': px > W - 260 ? 'end' : 'start'});
    pl.textContent = 'peak ' + bytes(peak.bytes) + ' at ' + duration(peak.time_ns);
    root.appendChild(pl);

    // Hover: the bucket under the pointer.
    var cursor = svg('line', {'class': 'cursor', x1: 0, x2: 0, y1: T, y2: H - B, visibility: 'hidden'});
    var hover = svg('text', {'class': 'hover-label', x: L + 8, y: T + 4});
    root.appendChild(cursor);
    root.appendChild(hover);
    root.addEventListener('mousemove', function (ev) {
      var r = root.getBoundingClientRect();
      var vx = (ev.clientX - r.left) * W / r.width;
      if (vx < L || vx > W - R) { cursor.setAttribute('visibility', 'hidden'); hover.textContent = ''; return; }
      var ns = (vx - L) / (W - L - R) * end;
      var i = Math.min(buckets.length - 1, Math.max(0, Math.floor(ns / tl.bucket_ns)));
      var b = buckets[i];
      cursor.setAttribute('x1', vx);
      cursor.setAttribute('x2', vx);
      cursor.setAttribute('visibility', 'visible');
      hover.textContent = duration(b.start_ns) + '\u2013' + duration(b.start_ns + tl.bucket_ns) + ': live ' +
        bytes(b.live_bytes) + ', at most ' + bytes(b.max_live_bytes) + ', ' +
        plural(b.allocations, 'allocation', 'allocations') + ', ' + plural(b.frees, 'free', 'frees');
    });
    root.addEventListener('mouseleave', function () { cursor.setAttribute('visibility', 'hidden'); hover.textContent = ''; });
    s.appendChild(root);
    s.appendChild(el('div', {className: 'legend'},
      el('span', null, el('span', {className: 'swatch live'}), 'live at bucket end'),
      el('span', null, el('span', {className: 'swatch max'}), 'most live in bucket'),
      el('span', null, el('span', {className: 'swatch peak'}), 'peak'),
      el('span', {text: plural(buckets.length, 'bucket', 'buckets') + ' of ' + duration(tl.bucket_ns)})));
  }

  // ---------------------------------------------------------------- flame graph

  var WEIGHTS = [
    {key: 'bytes', label: 'bytes allocated', unit: 'bytes'},
    {key: 'allocations', label: 'allocations', unit: 'allocations'},
    {key: 'leaked', label: 'leaked (live at exit)', unit: 'bytes'},
    {key: 'peak', label: 'live at the peak', unit: 'bytes'}
  ];
  var ROW = 18, MIN_FRACTION = 0.0008;

  function buildTree(stacks) {
    var root = {name: 'all', value: 0, children: new Map(), parent: null, depth: 0};
    stacks.forEach(function (entry) {
      var frames = entry[0], w = entry[1];
      root.value += w;
      var node = root;
      frames.forEach(function (idx) {
        var child = node.children.get(idx);
        if (!child) {
          child = {name: data.flame.names[idx], value: 0, children: new Map(), parent: node, depth: node.depth + 1};
          node.children.set(idx, child);
        }
        child.value += w;
        node = child;
      });
    });
    return root;
  }

  function hue(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h;
  }

  function frameColor(name, weightKey) {
    var h = hue(name);
    if (weightKey === 'leaked') return 'hsl(' + (270 + h % 50) + ', 55%, ' + (70 + h % 12) + '%)';
    if (weightKey === 'peak') return 'hsl(' + (190 + h % 40) + ', 55%, ' + (66 + h % 14) + '%)';
    return 'hsl(' + (h % 55) + ', ' + (72 + h % 20) + '%, ' + (58 + h % 12) + '%)';
  }

  function flame() {
    var s = section('flame', 'Flame graph',
      'Allocation stacks merged by function: the root at the bottom, each frame above the one that called it ' +
      '(as the text report prints stacks, innermost first, read upwards). Width is the weight chosen. ' +
      'Hover for numbers, click a frame to zoom, click the root or Reset to zoom out.' +
      (data.flame.runtime_hidden ? ' Stacks of runtime-internal blocks (libc, ld.so, libstdc++\'s pool, language runtimes) are ' +
        'left out; --show-runtime keeps them.' : ''));
    var select = el('select', {id: 'flame-weight'});
    WEIGHTS.forEach(function (w) {
      var total = 0;
      data.flame[w.key].forEach(function (e) { total += e[1]; });
      var o = el('option', {value: w.key, text: w.label + ' (' + (w.unit === 'bytes' ? bytes(total) : thousands(total)) + ')'});
      select.appendChild(o);
    });
    var search = el('input', {id: 'flame-search', type: 'search', placeholder: 'highlight function\u2026'});
    var reset = el('button', {id: 'flame-reset', type: 'button', text: 'Reset zoom'});
    var matchInfo = el('span', {className: 'note', id: 'flame-match'});
    s.appendChild(el('div', {className: 'controls'},
      el('label', {'for': 'flame-weight', text: 'Weight:'}), select, search, reset, matchInfo));
    var info = el('div', {id: 'flame-info', text: '\u00a0'});
    var graph = el('div', {id: 'flame-graph', role: 'img', 'aria-label': 'Flame graph of allocation stacks'});
    s.appendChild(info);
    s.appendChild(graph);

    var state = {weight: WEIGHTS[0], tree: null, zoom: null, nodes: []};

    function describe(node) {
      var amount = state.weight.unit === 'bytes' ? bytes(node.value) : plural(node.value, 'allocation', 'allocations');
      var text = node.name + ' \u2014 ' + amount + ', ' + pct(node.value, state.tree.value) + ' of all';
      if (state.zoom !== state.tree && state.zoom !== node) text += ', ' + pct(node.value, state.zoom.value) + ' of the zoomed frame';
      return text;
    }

    function draw() {
      while (graph.firstChild) graph.removeChild(graph.firstChild);
      state.nodes = [];
      var tree = state.tree, zoom = state.zoom;
      reset.disabled = zoom === tree;
      if (tree.value === 0) {
        graph.style.height = 'auto';
        graph.appendChild(el('p', {className: 'empty', text: 'Nothing to show for this weight (' + state.weight.label + ' is 0).'}));
        return;
      }
      var items = [];
      // Ancestors of the zoomed frame: full width, dimmed.
      for (var a = zoom.parent; a; a = a.parent) items.push({node: a, x: 0, w: 1, ancestor: true});
      var maxDepth = zoom.depth;
      (function walk(node, x0) {
        var w = node.value / zoom.value;
        if (w < MIN_FRACTION) return;
        items.push({node: node, x: x0, w: w, ancestor: false});
        if (node.depth > maxDepth) maxDepth = node.depth;
        var kids = Array.from(node.children.values()).sort(function (p, q) {
          return q.value - p.value || (p.name < q.name ? -1 : p.name > q.name ? 1 : 0);
        });
        var x = x0;
        kids.forEach(function (k) { walk(k, x); x += k.value / zoom.value; });
      })(zoom, 0);
      graph.style.height = ((maxDepth + 1) * ROW + 2) + 'px';
      var frag = document.createDocumentFragment();
      items.forEach(function (it) {
        var n = it.node;
        var name = n.depth === 0 ? 'all (' + state.weight.label + ')' : n.name;
        var div = el('div', {className: 'frame' + (it.ancestor ? ' ancestor' : ''), 'data-i': String(state.nodes.length),
          'data-name': n.name, title: describe(n)},
          el('span', {className: 'frame-label', text: name}));
        state.nodes.push(n);
        div.style.left = (100 * it.x) + '%';
        div.style.width = (100 * it.w) + '%';
        div.style.top = ((maxDepth - n.depth) * ROW) + 'px';
        div.style.backgroundColor = n.depth === 0 ? '#d9dde4' : frameColor(n.name, state.weight.key);
        frag.appendChild(div);
      });
      graph.appendChild(frag);
      highlight();
    }

    function highlight() {
      var q = search.value.trim().toLowerCase();
      var matched = 0;
      var seen = new Set();
      Array.prototype.forEach.call(graph.querySelectorAll('.frame'), function (div) {
        var n = state.nodes[Number(div.getAttribute('data-i'))];
        var hit = q !== '' && n.depth > 0 && n.name.toLowerCase().indexOf(q) >= 0;
        div.classList.toggle('match', hit);
        if (hit) {
          // Count a match once: not again below an ancestor that matched already.
          var covered = false;
          for (var a = n.parent; a; a = a.parent) if (seen.has(a)) { covered = true; break; }
          if (!covered && !div.classList.contains('ancestor')) { seen.add(n); matched += n.value; }
        }
      });
      matchInfo.textContent = q === '' ? '' : 'matched: ' + pct(matched, state.zoom.value) + ' of the frames shown';
    }

    function setWeight(key) {
      state.weight = WEIGHTS.filter(function (w) { return w.key === key; })[0] || WEIGHTS[0];
      state.tree = buildTree(data.flame[state.weight.key]);
      state.zoom = state.tree;
      info.textContent = '\u00a0';
      draw();
    }

    graph.addEventListener('mouseover', function (ev) {
      var div = ev.target.closest ? ev.target.closest('.frame') : null;
      if (div) info.textContent = describe(state.nodes[Number(div.getAttribute('data-i'))]);
    });
    graph.addEventListener('click', function (ev) {
      var div = ev.target.closest ? ev.target.closest('.frame') : null;
      if (!div) return;
      var n = state.nodes[Number(div.getAttribute('data-i'))];
      state.zoom = n;
      draw();
      info.textContent = describe(n);
    });
    reset.addEventListener('click', function () { state.zoom = state.tree; draw(); });
    select.addEventListener('change', function () { setWeight(select.value); });
    search.addEventListener('input', highlight);
    setWeight(WEIGHTS[0].key);
  }

  // ---------------------------------------------------------------- findings

  function findings() {
    var list = doc.findings;
    var s = section('findings', 'Findings (' + list.length + ')',
      list.length ? 'Heap bugs the detectors found, each with the stacks that apply to it (innermost frame first).' : null);
    if (list.length === 0) {
      s.appendChild(el('p', {className: 'empty', text: 'No findings.'}));
    }
    list.forEach(function (f, i) {
      var d = el('details', {className: 'finding', 'data-detector': f.detector});
      if (i < 8) d.setAttribute('open', '');
      d.appendChild(el('summary', null,
        el('span', {className: 'sev ' + f.severity, text: f.severity}),
        el('span', {className: 'detector', text: f.detector}),
        el('span', {className: 'msg', text: f.message}),
        f.count > 1 ? el('span', {className: 'count', text: '(' + thousands(f.count) + ' times)'}) : null));
      var body = el('div');
      [['offending', 'at'], ['allocation', 'allocated at'], ['first_free', 'first freed at']].forEach(function (role) {
        var frames = f.stacks[role[0]];
        if (frames === undefined) return;
        body.appendChild(el('h3', {text: role[1] + ':'}));
        body.appendChild(stackList(frames));
      });
      d.appendChild(body);
      s.appendChild(d);
    });
    if (doc.metrics.findings_dropped > 0) {
      s.appendChild(el('p', {className: 'note', text: thousands(doc.metrics.findings_dropped) + ' more findings not listed (too many distinct ones).'}));
    }
  }

  // ---------------------------------------------------------------- leaks, sites, threads

  var MAX_ROWS = 500;

  function leaks() {
    var all = doc.leaks.slice();
    var program = all.filter(function (l) { return !l.runtime_internal; });
    var runtime = all.filter(function (l) { return l.runtime_internal; });
    var kinds = !!doc.summary.leak_kinds;
    var s = section('leaks', liveWhen() + ' (' + thousands(data.leak_groups_total) + (kinds ? ' groups' : ' stacks') + ')',
      kinds ?
        'Blocks still live when the trace ended, by allocation stack and leak kind (the leak check at exit): definitely lost ' +
        'first, then indirectly lost, possibly lost, still reachable; the program\'s before those libc, ld.so and language ' +
        'runtimes keep on purpose (runtime-internal). Largest first within a kind. "Held by" names the roots that keep ' +
        'reachable blocks, and the lost block that holds indirectly lost ones.' :
        'Blocks still live when the trace ended, by allocation stack: the program\'s first, then those libc, ld.so and ' +
        'language runtimes keep on purpose (runtime-internal). Largest first.');
    if (all.length === 0) {
      s.appendChild(el('p', {className: 'empty', text: 'No blocks live at exit.'}));
      return;
    }
    // With leak kinds the groups keep the report's order (worst kind first).
    var ordered = kinds ? all : program.concat(runtime);
    var rows = ordered.slice(0, MAX_ROWS).map(function (l) {
      var cells = [num(bytes(l.bytes)), num(thousands(l.blocks))];
      if (kinds) {
        cells.push(el('td', null, el('span', {className: 'tag leak-kind ' + (l.kind || 'none'), text: l.kind ? kindWords(l.kind) : 'unknown'})));
      }
      cells.push(el('td', null, el('span', {className: 'tag' + (l.runtime_internal ? '' : ' program'), text: l.runtime_internal ? 'runtime-internal' : 'program'})),
        el('td', {className: 'mono', text: l.type || ''}),
        el('td', null, stackDetails(l.stack, l.site)));
      if (kinds) cells.push(holdersCell(l));
      return el('tr', {className: l.runtime_internal ? 'runtime' : 'program'}, cells);
    });
    s.appendChild(table(kinds ? ['#Bytes', '#Blocks', 'Leak kind', 'Kind', 'Type', 'Allocated at', 'Held by'] :
      ['#Bytes', '#Blocks', 'Kind', 'Type', 'Allocated at'], rows));
    if (all.length > MAX_ROWS) {
      s.appendChild(el('p', {className: 'note', text: (all.length - MAX_ROWS) + ' more stacks in the JSON report (--format json).'}));
    }
  }

  function sites() {
    var m = doc.metrics;
    var s = section('sites', 'Top call sites', 'Allocation stacks by bytes allocated over the run.');
    if (m.top_sites.length === 0) {
      s.appendChild(el('p', {className: 'empty', text: 'No allocations.'}));
    } else {
      var max = m.top_sites[0].bytes;
      s.appendChild(table(['#Bytes', '', '#Allocations', '#Live at end', 'Type', 'Stack'], m.top_sites.map(function (site) {
        return el('tr', null, num(bytes(site.bytes)), barCell(site.bytes, max), num(thousands(site.allocations)),
          num(bytes(site.live_bytes)), el('td', {className: 'mono', text: site.type || ''}), el('td', null, stackDetails(site.stack, site.site)));
      })));
    }
    if (m.peak.holders.length) {
      s.appendChild(el('h3', {text: 'Holding the peak (' + bytes(m.peak.bytes) + ' at ' + duration(m.peak.time_ns) + ')'}));
      s.appendChild(table(['#Bytes', '#Blocks', 'Type', 'Stack'], m.peak.holders.map(function (h) {
        return el('tr', null, num(bytes(h.bytes)), num(thousands(h.live_blocks)), el('td', {className: 'mono', text: h.type || ''}),
          el('td', null, stackDetails(h.stack, h.site)));
      })));
    }
    var p = m.patterns;
    if (p.realloc_chains.length || p.churn.length) {
      s.appendChild(el('h3', {text: 'Patterns'}));
      var rows = [];
      p.realloc_chains.forEach(function (c) {
        rows.push(el('tr', null, el('td', {text: 'realloc growth chain'}), num(thousands(c.longest_chain)), num(thousands(c.allocations)),
          num(bytesShort(c.min_size) + ' \u2013 ' + bytesShort(c.max_size)), el('td', null, stackDetails(c.stack))));
      });
      p.churn.forEach(function (c) {
        rows.push(el('tr', null, el('td', {text: 'churn (' + thousands(c.short_lived) + ' short-lived)'}), num(''), num(thousands(c.allocations)),
          num(bytesShort(c.min_size) + ' \u2013 ' + bytesShort(c.max_size)), el('td', null, stackDetails(c.stack))));
      });
      s.appendChild(table(['Pattern', '#Longest chain', '#Allocations', '#Sizes', 'Stack'], rows));
    }
  }

  function threads() {
    var list = doc.metrics.threads;
    var s = section('threads', 'Threads (' + list.length + ')', 'Per thread: what it allocated and freed; a cross-thread free releases a block another thread allocated.');
    if (list.length === 0) {
      s.appendChild(el('p', {className: 'empty', text: 'No threads recorded.'}));
      return;
    }
    var max = 0;
    list.forEach(function (t) { max = Math.max(max, t.bytes); });
    s.appendChild(table(['#Thread id', '#Stream', '#Allocations', '#Bytes', '', '#Frees', '#Cross-thread frees'], list.map(function (t) {
      return el('tr', null, num(String(t.tid)), num(String(t.stream)), num(thousands(t.allocations)), num(bytes(t.bytes)),
        barCell(t.bytes, max), num(thousands(t.frees)), num(thousands(t.cross_thread_frees)));
    })));
  }

  function distributions() {
    var m = doc.metrics, l = m.lifetimes;
    var s = section('distributions', 'Sizes and lifetimes', 'Allocator slack: ' + m.allocator_slack.bytes + ' bytes over all allocations (' + m.allocator_slack.percent_of_requested.toFixed(1) + '% of the bytes requested).');
    var cols = el('div', {className: 'two-col'});
    var maxSize = 0;
    m.sizes.forEach(function (b) { maxSize = Math.max(maxSize, b.count); });
    cols.appendChild(el('div', null, el('h3', {text: 'Allocation sizes'}),
      m.sizes.length ? table(['Size', '#Count', '', '#Bytes'], m.sizes.map(function (b) {
        return el('tr', null, el('td', {className: 'mono', text: b.min === 0 ? '0' : bytesShort(b.min) + ' \u2013 ' + bytesShort(2 * b.min - 1)}),
          num(thousands(b.count)), barCell(b.count, maxSize), num(bytes(b.bytes)));
      })) : el('p', {className: 'empty', text: 'No allocations.'})));
    var classes = [['temporary', 'freed before the thread\'s next allocation', l.temporary],
      ['short', 'freed within ' + duration(l.short_threshold_ns), l.short],
      ['long', 'freed later', l.long],
      ['until exit', 'never freed', l.until_exit]];
    var maxClass = 0;
    classes.forEach(function (c) { maxClass = Math.max(maxClass, c[2].blocks); });
    cols.appendChild(el('div', null, el('h3', {text: 'Block lifetimes'}),
      table(['Class', '#Blocks', '', '#Bytes'], classes.map(function (c) {
        return el('tr', {title: c[1]}, el('td', {text: c[0] + ' (' + c[1] + ')'}), num(thousands(c[2].blocks)), barCell(c[2].blocks, maxClass), num(bytes(c[2].bytes)));
      }))));
    s.appendChild(cols);
  }

  function footer() {
    app.appendChild(el('footer', null,
      'Generated by ' + data.generator + ' (report schema ' + doc.schema + '). ' +
      'Everything here is also in `memscope analyze --format json`.'));
  }

  header();
  chart();
  flame();
  findings();
  leaks();
  sites();
  threads();
  distributions();
  footer();
  document.body.setAttribute('data-rendered', 'ok');
})();
