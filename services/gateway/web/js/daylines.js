// The message list's shape: a line with the date before each day's first
// line, and consecutive messages of one user (within a few minutes, on one
// day) grouped under one name. Kept up by one pass over the list after
// whatever changed it, in the next frame.

import { makeEl, ui } from './dom.js';
import { lang, t } from './i18n.js';

// Messages of one user this close together are one group.
const GROUP_WITHIN_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const dayFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'full' });
let queued = false;
let observer = null;

function dayStart(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function dayLabel(start) {
  const today = dayStart(Date.now());
  if (start === today) return t('today');
  if (start === dayStart(today - DAY_MS / 2)) return t('yesterday');
  return dayFormat.format(new Date(start));
}

function makeDayLine(start) {
  const li = makeEl('li', 'day-line');
  li.dataset.testid = 'day-line';
  li.dataset.day = String(start);
  li.dataset.ts = String(start); // insert() keeps the day's lines after it
  li.setAttribute('role', 'separator');
  const time = makeEl('time', 'day-line-label', dayLabel(start));
  time.dateTime = new Date(start).toISOString().slice(0, 10);
  li.appendChild(time);
  return li;
}

// reshape puts the day lines where they belong and marks the groups; a
// list that was at its end stays there.
function reshape() {
  queued = false;
  const list = ui.messages;
  const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const kept = new Set();
  let day = null;
  let prev = null; // the previous message line, for grouping
  for (const li of Array.from(list.children)) {
    if (li.classList.contains('day-line')) continue;
    if (li.classList.contains('new-marker')) {
      prev = null; // the first new message shows its name
      continue;
    }
    const ts = Number(li.dataset.ts);
    if (!Number.isFinite(ts) || ts <= 0) continue;
    const start = dayStart(ts);
    if (start !== day) {
      let line = li.previousElementSibling;
      if (line && line.classList.contains('new-marker')) line = line.previousElementSibling;
      if (!line || !line.classList.contains('day-line') || Number(line.dataset.day) !== start) {
        line = makeDayLine(start);
        li.before(line);
      }
      kept.add(line);
      day = start;
      prev = null;
    }
    const grouped = prev !== null && isMessage(li) && isMessage(prev) &&
      li.dataset.username === prev.dataset.username && ts - Number(prev.dataset.ts) < GROUP_WITHIN_MS;
    li.classList.toggle('grouped', grouped);
    prev = li;
  }
  for (const line of list.querySelectorAll('.day-line')) if (!kept.has(line)) line.remove();
  if (pinned) list.scrollTop = list.scrollHeight;
  if (observer) observer.takeRecords(); // our own changes are no news
}

function isMessage(li) {
  return li.classList.contains('msg') && !li.classList.contains('whisper') && li.dataset.username !== undefined;
}

function queue() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(reshape);
}

export function wireDayLines() {
  observer = new MutationObserver(queue);
  observer.observe(ui.messages, { childList: true });
}
