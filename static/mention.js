// Suggestions for @mentions in a textarea with data-mentions (a JSON list
// of {h: handle, n: name}): typing @ and the start of a name lists the
// members it could mean; arrows choose, Enter or Tab inserts, Escape
// closes. Without JavaScript, typing @handle works the same.
(function () {
  'use strict';
  var MAX = 6;
  var count = 0;

  function squeeze(s) {
    return s.replace(/\s+/g, '').toLowerCase();
  }

  function attach(area) {
    var members;
    try {
      members = JSON.parse(area.getAttribute('data-mentions')) || [];
    } catch (e) {
      return;
    }
    if (!members.length) return;
    count += 1;
    var id = 'mention-list-' + count;
    var list = document.createElement('ul');
    list.id = id;
    list.className = 'mention-list';
    list.setAttribute('role', 'listbox');
    list.setAttribute('aria-label', 'Members to mention');
    list.hidden = true;
    area.insertAdjacentElement('afterend', list);
    area.setAttribute('aria-autocomplete', 'list');
    area.setAttribute('aria-controls', id);
    var shown = [];
    var active = -1;
    var start = -1;

    function close() {
      list.hidden = true;
      list.textContent = '';
      shown = [];
      active = -1;
      area.removeAttribute('aria-activedescendant');
    }

    function mark() {
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute('aria-selected', i === active ? 'true' : 'false');
      });
      if (active >= 0) area.setAttribute('aria-activedescendant', id + '-' + active);
    }

    function insert(member) {
      var caret = area.selectionStart;
      var before = area.value.slice(0, start);
      var after = area.value.slice(caret);
      var text = '@' + member.h + ' ';
      area.value = before + text + after;
      var at = before.length + text.length;
      area.setSelectionRange(at, at);
      close();
      area.focus();
    }

    function update() {
      var caret = area.selectionStart;
      var head = area.value.slice(0, caret);
      var m = /(^|[^\w@.\-])@([\w.\-]*)$/.exec(head);
      if (!m) return close();
      var typed = m[2].toLowerCase();
      start = caret - m[2].length - 1;
      shown = members.filter(function (p) {
        return p.h.toLowerCase().indexOf(typed) === 0 || squeeze(p.n).indexOf(typed) === 0;
      }).slice(0, MAX);
      if (!shown.length) return close();
      list.textContent = '';
      shown.forEach(function (p, i) {
        var li = document.createElement('li');
        li.id = id + '-' + i;
        li.setAttribute('role', 'option');
        li.textContent = p.n + ' (@' + p.h + ')';
        li.addEventListener('mousedown', function (e) {
          e.preventDefault();
          insert(p);
        });
        list.appendChild(li);
      });
      active = 0;
      list.hidden = false;
      mark();
    }

    area.addEventListener('input', update);
    area.addEventListener('blur', close);
    area.addEventListener('keydown', function (e) {
      if (list.hidden) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        var step = e.key === 'ArrowDown' ? 1 : -1;
        active = (active + step + shown.length) % shown.length;
        mark();
      } else if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        insert(shown[Math.max(active, 0)]);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        close();
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('textarea[data-mentions]'), attach);
})();
