// Live updates for team pages. Progressive enhancement: without JavaScript,
// or without EventSource, every page is complete as served.
//
// The page's [data-live] element names its stream (/t/SLUG/live?after=N, N
// being the last log index the page was read at) and, on a proposal page,
// its proposal (data-live-proposal). When the team's log gains an entry
// that concerns the page, the page is fetched again and its parts swapped
// in. A part ([data-live-region]) where the reader is typing, or has the
// focus, keeps its state and is updated by a later refresh; when no part
// is in use the whole content is swapped, so parts may appear and vanish.
// The browser resumes a dropped stream with Last-Event-ID by itself.
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root || typeof EventSource === 'undefined' || typeof fetch === 'undefined' ||
      typeof DOMParser === 'undefined') {
    return;
  }
  var proposal = root.getAttribute('data-live-proposal');
  proposal = proposal ? Number(proposal) : null;
  var status = document.getElementById('live-status');
  // Entries about no proposal that still change a proposal page.
  var TEAM_WIDE = {
    member_joined: 1,
    member_removed: 1,
    role_changed: 1,
    key_renamed: 1,
    content_erased: 1,
    proposal_created: 1
  };
  var NEWS = {
    stance_taken: 'a stance',
    comment_added: 'a comment',
    decision_recorded: 'the decision',
    deadline_extended: 'a new deadline',
    decider_changed: 'a new decider',
    proposal_revised: 'a revision',
    proposal_withdrawn: 'a withdrawal',
    proposal_created: 'a new proposal',
    decision_ready: 'ready for the decision'
  };
  var heard = [];
  var timer = null;
  var running = false;
  var again = false;

  // The stream is closed while the tab is hidden (browsers allow only a few
  // connections per site over HTTP/1.1, and a background tab needs none)
  // and reopened after the last entry heard when it shows again.
  var base = root.getAttribute('data-live').replace(/[?&]after=[^&]*/, '');
  var after = (root.getAttribute('data-live').match(/[?&]after=(-?\d+)/) || [])[1];
  var source = null;
  var ended = false;
  var retry = 1000;
  // The page's own address: a page answered to a refused form has the
  // form's address, which answers only POST.
  var page = root.getAttribute('data-live-page') || location.pathname + location.search;

  function connect() {
    var url = after === undefined ? base : base + (base.indexOf('?') < 0 ? '?' : '&') + 'after=' + after;
    source = new EventSource(url);
    source.onmessage = function (message) {
      if (message.lastEventId) {
        after = message.lastEventId;
      }
      var entry;
      try {
        entry = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (proposal !== null && entry.proposal !== proposal && !TEAM_WIDE[entry.kind]) {
        return;
      }
      heard.push(entry.kind);
      schedule();
    };
    source.addEventListener('resync', function (message) {
      if (message.lastEventId) {
        after = message.lastEventId;
      }
      heard.push('resync');
      schedule();
    });
    source.addEventListener('end', function () {
      ended = true;
      source.close();
      say('Live updates stopped: you are no longer a member of this team.');
    });
    source.onopen = function () {
      retry = 1000;
    };
    // The browser retries a dropped stream by itself, but gives up for good
    // on an answer that is not a stream (a proxy's 502 while the server
    // restarts, a sign-in page): start again, more slowly each time.
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED && !ended) {
        source = null;
        setTimeout(function () {
          if (!source && !ended && !document.hidden) {
            connect();
          }
        }, retry);
        retry = Math.min(retry * 2, 60000);
      }
    };
  }

  document.addEventListener('visibilitychange', function () {
    if (ended) {
      return;
    }
    if (document.hidden) {
      if (source) {
        source.close();
        source = null;
      }
    } else if (!source) {
      connect();
    }
  });
  if (!document.hidden) {
    connect();
  }

  // Entries often come in bursts: one fetch for the lot.
  function schedule() {
    if (timer === null) {
      timer = setTimeout(function () {
        timer = null;
        refresh();
      }, 50);
    }
  }

  function refresh() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    var kinds = heard;
    heard = [];
    fetch(page, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('[data-live]');
        if (fresh) {
          swap(fresh);
          say(describe(kinds));
        }
      })
      .catch(function () {
        // Signed out or offline: the next entry tries again.
      })
      .then(function () {
        running = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function swap(fresh) {
    var open = openDetails();
    var regions = root.querySelectorAll('[data-live-region]');
    var inUse = Array.prototype.filter.call(regions, busy);
    if (inUse.length === 0) {
      root.replaceChildren.apply(root, Array.prototype.map.call(fresh.childNodes, adopt));
    } else {
      Array.prototype.forEach.call(regions, function (old) {
        if (inUse.indexOf(old) >= 0) {
          return;
        }
        var next = fresh.querySelector('#' + CSS.escape(old.id));
        if (next) {
          old.replaceWith(adopt(next));
        } else {
          old.replaceChildren();
        }
      });
    }
    open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
  }

  function adopt(node) {
    return document.importNode(node, true);
  }

  function openDetails() {
    return Array.prototype.map.call(root.querySelectorAll('details[open][id]'), function (d) {
      return d.id;
    });
  }

  // A part the reader is working in: it has the focus, a field changed, or
  // it shows a refused form (its message and what was typed stay).
  function busy(region) {
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) {
      return true;
    }
    if (region.querySelector('.field-error, .form-error')) {
      return true;
    }
    var fields = region.querySelectorAll('input, textarea, select');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === 'hidden') {
        continue;
      }
      if (f.type === 'radio' || f.type === 'checkbox') {
        if (f.checked !== f.defaultChecked) {
          return true;
        }
      } else if (f.tagName === 'SELECT') {
        // With no option marked, the browser shows the first.
        var marked = false;
        for (var k = 0; k < f.options.length; k++) {
          marked = marked || f.options[k].defaultSelected;
        }
        for (var j = 0; j < f.options.length; j++) {
          var shown = marked ? f.options[j].defaultSelected : j === 0;
          if (f.options[j].selected !== shown) {
            return true;
          }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function describe(kinds) {
    var seen = [];
    kinds.forEach(function (k) {
      var words = NEWS[k];
      if (words && seen.indexOf(words) < 0) {
        seen.push(words);
      }
    });
    var at = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return seen.length ? 'Updated at ' + at + ' with ' + seen.join(', ') + '.' : 'Updated at ' + at + '.';
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }
})();
