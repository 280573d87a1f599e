// The event board's page: polls the board's JSON API and renders it with plain DOM calls.
// Every value from the server is put in the page with textContent, never as HTML.
'use strict';
(function () {
  var base = document.documentElement.getAttribute('data-base') || '';
  var api = base + '/api';
  var STATE_EVERY_MS = 1000;
  var STREAMS_EVERY_MS = 3000;
  var COUNTERS = [
    ['dispatched', 'Dispatched'],
    ['listenerErrors', 'Listener errors'],
    ['publishErrors', 'Publish errors'],
    ['rejectedMessages', 'Rejected messages'],
    ['retries', 'Retries'],
    ['timeouts', 'Timeouts'],
    ['queueOverflows', 'Queue overflows'],
    ['breakerRejections', 'Breaker rejections'],
    ['breakerOpens', 'Breaker opens'],
    ['filtered', 'Filtered'],
    ['abandonedOnClose', 'Abandoned on close'],
    ['subscriberDisconnects', 'Subscriber disconnects'],
  ];
  var BAD = {
    listenerErrors: 1,
    publishErrors: 1,
    rejectedMessages: 1,
    timeouts: 1,
    queueOverflows: 1,
    breakerRejections: 1,
    abandonedOnClose: 1,
    subscriberDisconnects: 1,
  };
  var readOnly = true;
  var stateTimer = 0;
  var streamsTimer = 0;

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function row(cells, className) {
    var tr = el('tr', null, className);
    cells.forEach(function (cell) {
      if (cell instanceof Node) tr.appendChild(cell);
      else tr.appendChild(el('td', cell));
    });
    return tr;
  }

  function td(content, className) {
    var cell = el('td', null, className);
    (Array.isArray(content) ? content : [content]).forEach(function (part) {
      if (part instanceof Node) cell.appendChild(part);
      else if (part !== undefined && part !== null) cell.appendChild(document.createTextNode(String(part)));
    });
    return cell;
  }

  function fill(tbody, rows, emptyText, columns) {
    var fragment = document.createDocumentFragment();
    if (rows.length === 0) {
      var cell = el('td', emptyText);
      cell.colSpan = columns;
      var tr = el('tr', null, 'empty');
      tr.appendChild(cell);
      fragment.appendChild(tr);
    }
    rows.forEach(function (r) {
      fragment.appendChild(r);
    });
    tbody.replaceChildren(fragment);
  }

  function time(ms) {
    if (typeof ms !== 'number') return '—';
    var d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function duration(ms) {
    if (typeof ms !== 'number') return '—';
    return ms < 10 ? ms.toFixed(1) + ' ms' : Math.round(ms) + ' ms';
  }

  function renderCounters(stats) {
    var dl = $('counters');
    var fragment = document.createDocumentFragment();
    COUNTERS.forEach(function (pair) {
      var value = stats[pair[0]] || 0;
      var box = el('div', null, BAD[pair[0]] && value > 0 ? 'bad' : '');
      box.setAttribute('data-counter', pair[0]);
      box.appendChild(el('dt', pair[1]));
      box.appendChild(el('dd', value));
      fragment.appendChild(box);
    });
    dl.replaceChildren(fragment);
  }

  function renderListeners(listeners, since) {
    var previous = null;
    var rows = listeners
      .slice()
      .sort(function (a, b) {
        return a.event < b.event ? -1 : a.event > b.event ? 1 : 0;
      })
      .map(function (l) {
        var first = l.event !== previous;
        previous = l.event;
        var policies = l.policies.length
          ? l.policies.map(function (p) {
              return el('span', p, 'pill');
            })
          : '—';
        var tr = row(
          [
            td(first ? el('code', l.event) : ''),
            td(el('code', l.name)),
            td(l.mode),
            td(policies),
            td(l.breaker || '—', l.breaker || ''),
            td(l.calls, 'num'),
            td(l.failures, 'num' + (l.failures > 0 ? ' failed' : '')),
            td(l.meanMs === undefined ? '—' : duration(l.meanMs), 'num'),
          ],
          first ? 'group-start' : '',
        );
        tr.setAttribute('data-listener', l.event + ' ' + l.name);
        return tr;
      });
    fill($('listeners'), rows, 'No listeners registered.', 8);
    $('listeners-since').textContent = since
      ? '(calls counted only while a board page is open; first opened ' + time(since) + ')'
      : '(calls counted only while a board page is open)';
  }

  function attempts(n) {
    return n === 1 ? '1 attempt' : n + ' attempts';
  }

  // The outcomes other processes reported for a tracked dispatch, one line each.
  function remoteList(e) {
    var list = el('ul', null, 'remote');
    list.setAttribute('aria-label', 'Remote outcomes of ' + e.handleId);
    e.remoteOutcomes.forEach(function (o) {
      var item = el('li', null, o.ok ? 'ok' : 'failed');
      item.setAttribute('data-remote', o.listener);
      item.appendChild(el('span', o.ok ? '✓ ' : '✗ ', 'mark'));
      item.appendChild(el('code', o.listener));
      item.appendChild(document.createTextNode(' · bus '));
      var bus = el('code', o.reporter.slice(0, 8));
      bus.title = o.reporter;
      item.appendChild(bus);
      item.appendChild(document.createTextNode(' · ' + attempts(o.attempts) + ' · ' + duration(o.durationMs)));
      if (!o.ok && o.error !== undefined) item.appendChild(el('span', ' · ' + o.error, 'message'));
      list.appendChild(item);
    });
    if (e.remoteOutcomesNotListed > 0) list.appendChild(el('li', '… ' + e.remoteOutcomesNotListed + ' more', 'hint'));
    return list;
  }

  function renderEvents(events) {
    var rows = events.map(function (e) {
      var name = [el('code', e.name)];
      if (e.payload !== undefined) name.push(el('span', e.payload, 'payload'));
      if (e.remoteOutcomes !== undefined) name.push(remoteList(e));
      var ids = [el('code', e.handleId)];
      if (e.traceId !== undefined) {
        var trace = el('code', 'trace ' + e.traceId, 'trace');
        trace.setAttribute('data-trace', e.traceId);
        ids.push(trace);
      }
      var tr = row([
        td(time(e.at)),
        td(name),
        td(ids),
        td(duration(e.durationMs), 'num'),
        td(e.outcome + (e.errors > 0 ? ' (' + e.errors + ')' : ''), e.outcome),
      ]);
      tr.setAttribute('data-event', e.name);
      return tr;
    });
    fill($('events'), rows, 'No events since the board opened.', 5);
  }

  function renderErrors(errors) {
    var rows = errors.map(function (e) {
      return row([
        td(time(e.at)),
        td(el('code', e.eventName)),
        td(el('code', e.listener)),
        td([el('strong', e.cause + ' '), el('span', e.message, 'message')]),
      ]);
    });
    fill($('errors'), rows, 'No errors.', 4);
  }

  function renderStreams(data) {
    var section = $('streams');
    if (!data.available) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    fill(
      $('groups'),
      data.groups.map(function (g) {
        return row([
          td(el('code', g.event)),
          td([el('code', g.group), g.ours ? '' : el('span', 'other service', 'pill')]),
          td(g.lag === undefined || g.lag === null ? '—' : g.lag, 'num'),
          td(g.pending, 'num' + (g.pending > 0 ? ' pending' : '')),
          td(g.consumers, 'num'),
        ]);
      }),
      'No consumer groups yet.',
      5,
    );
    $('actions-col').hidden = data.readOnly;
    var rows = [];
    data.deadLetters.forEach(function (d) {
      d.items.forEach(function (item) {
        var cells = [
          td(el('code', d.event)),
          td(el('code', item.id)),
          td(el('code', item.listener)),
          td(item.attempts, 'num'),
          td(time(item.failedAt)),
          td([
            el('span', item.reason ? item.reason + ': ' + item.error : item.error, 'message'),
            item.payload !== undefined ? el('span', item.payload, 'payload') : null,
          ]),
        ];
        if (!data.readOnly)
          cells.push(td([action('Replay', 'POST', d.event, item.id, ''), action('Delete', 'DELETE', d.event, item.id, 'danger')]));
        var tr = row(cells);
        tr.setAttribute('data-dead-letter', item.id);
        rows.push(tr);
      });
    });
    fill($('dead-letters'), rows, 'No dead letters.', data.readOnly ? 6 : 7);
  }

  function action(label, method, event, id, className) {
    var button = el('button', label, className);
    button.type = 'button';
    button.setAttribute('aria-label', label + ' dead letter ' + id + ' of ' + event);
    button.addEventListener('click', function () {
      if (method === 'DELETE' && !window.confirm('Delete dead letter ' + id + ' of ' + event + '?')) return;
      button.disabled = true;
      var query = '?event=' + encodeURIComponent(event) + '&id=' + encodeURIComponent(id);
      var url = api + '/dead-letters' + (method === 'POST' ? '/replay' : '') + query;
      fetch(url, { method: method, headers: { 'X-Event-Board': '1' }, credentials: 'same-origin' })
        .then(
          function (res) {
            if (res.ok)
              return notice(label === 'Replay' ? 'Replayed ' + id + ': delivered again and removed.' : 'Deleted ' + id + '.', false);
            return res.json().then(
              function (body) {
                notice(label + ' ' + id + ' failed: ' + (body.error || res.status), true);
              },
              function () {
                notice(label + ' ' + id + ' failed: HTTP ' + res.status, true);
              },
            );
          },
          function (err) {
            notice(label + ' ' + id + ' failed: ' + err.message, true);
          },
        )
        .then(function () {
          button.disabled = false;
          pollStreams();
          pollState();
        });
    });
    return button;
  }

  function notice(text, isError) {
    var p = $('action-result');
    p.textContent = text;
    p.className = 'notice' + (isError ? ' error' : '');
  }

  function setStatus(text, stale) {
    var status = $('status');
    status.textContent = text;
    status.className = 'status' + (stale ? ' stale' : '');
  }

  function getJson(path) {
    return fetch(api + path, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    });
  }

  function pollState() {
    clearTimeout(stateTimer);
    return getJson('/state')
      .then(
        function (s) {
          readOnly = s.readOnly;
          $('driver').textContent = s.driver || 'starting';
          $('bus').textContent = 'bus ' + s.busId.slice(0, 8);
          $('bus').title = s.busId;
          $('mode').textContent = (readOnly ? 'read-only' : 'replay / delete enabled') + (s.showPayloads ? ' · payloads shown' : '');
          renderCounters(s.stats);
          renderListeners(s.listeners, s.watchingSince);
          renderEvents(s.events);
          $('events-unlisted').textContent = s.unlistedEvents > 0 ? '(' + s.unlistedEvents + ' more in bursts not listed)' : '';
          renderErrors(s.errors);
          setStatus('live · updated ' + time(Date.now()), false);
        },
        function (err) {
          setStatus('not updating: ' + err.message, true);
        },
      )
      .then(function () {
        schedule();
      });
  }

  function pollStreams() {
    clearTimeout(streamsTimer);
    return getJson('/streams')
      .then(renderStreams, function () {
        /* the state poll reports the outage */
      })
      .then(function () {
        if (!document.hidden) streamsTimer = setTimeout(pollStreams, STREAMS_EVERY_MS);
      });
  }

  function schedule() {
    if (!document.hidden) stateTimer = setTimeout(pollState, STATE_EVERY_MS);
  }

  // A hidden tab stops polling (and so stops the recording on the server); it starts again when shown.
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) {
      pollState();
      pollStreams();
    }
  });

  pollState();
  pollStreams();
})();
