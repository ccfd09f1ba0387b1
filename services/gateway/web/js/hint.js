// The command hint on a narrow screen: hidden behind its button, which
// shows it (on a wide one it is always there and the button is not).

import { ui } from './dom.js';

export function wireHint() {
  ui.hintToggle.addEventListener('click', () => {
    const open = !ui.composerHint.classList.contains('open');
    ui.composerHint.classList.toggle('open', open);
    ui.hintToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });
}
