/**
 * The developer portal's own stylesheet and its one script, served from `/assets/developers.css`
 * and `/assets/developers.js` so the Content-Security-Policy can say `script-src 'self'` and keep
 * forbidding inline code. Everything works without the script: it only adds the copy buttons.
 */
export const PORTAL_STYLESHEET = `
[hidden] { display: none !important; }
.top { max-width: 1080px; }
.top nav { display: flex; gap: 6px; flex-wrap: wrap; font-size: 15px; }
.top nav a { padding: 6px 10px; border-radius: 8px; text-decoration: none; color: var(--muted); }
.top nav a[aria-current=page] { color: var(--text); background: var(--surface); border: 1px solid var(--border); }
.portal { max-width: 1040px; margin: 16px auto 0; min-width: 0; }
.portal .card { max-width: none; margin-top: 16px; }
.portal h1 { overflow-wrap: anywhere; }
.crumbs { font-size: 14px; color: var(--muted); margin-bottom: 4px; }
.head { display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap; }
.head .btn { flex: none; }
.tabs { display: flex; gap: 4px; flex-wrap: wrap; list-style: none; margin: 16px 0 0; padding: 0; border-bottom: 1px solid var(--border); }
.tabs a { display: block; padding: 10px 14px; text-decoration: none; color: var(--muted); border-bottom: 3px solid transparent; font-weight: 600; font-size: 15px; }
.tabs a[aria-current=page] { color: var(--text); border-bottom-color: var(--primary); }
input[type=text], input[type=url], input[type=search], select, textarea {
  width: 100%; max-width: 100%; padding: 10px 12px; font: inherit; color: var(--text); background: var(--surface);
  border: 1px solid #8796a5; border-radius: 10px;
}
textarea { min-height: 96px; resize: vertical; }
input[aria-invalid=true], textarea[aria-invalid=true], fieldset[aria-invalid=true] { border-color: var(--danger); }
.field-hint { display: block; font-size: 13px; color: var(--muted); margin-top: 4px; }
.field-error { display: block; font-size: 14px; color: var(--danger); margin-top: 6px; font-weight: 600; overflow-wrap: anywhere; }
fieldset { border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; margin: 0 0 18px; min-width: 0; }
legend { font-weight: 600; font-size: 14px; padding: 0 4px; }
.check { display: flex; gap: 10px; align-items: flex-start; font-weight: 400; font-size: 15px; margin: 6px 0; }
.check input { margin-top: 4px; width: 18px; height: 18px; flex: none; }
.optional { font-weight: 400; color: var(--muted); }
.form-actions { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 8px; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.env { border: 1px solid var(--border); border-radius: 12px; padding: 16px; min-width: 0; }
.env h3 { margin: 0 0 6px; font-size: 16px; display: flex; align-items: center; gap: 8px; }
.env.test { border-style: dashed; background: var(--bg); }
.badge { display: inline-block; font-size: 12px; font-weight: 700; letter-spacing: .02em; padding: 2px 8px; border-radius: 999px; border: 1px solid currentColor; }
.badge.live { color: var(--primary); }
.badge.test { color: #8a5a00; }
.badge.delivered { color: var(--primary); }
.badge.pending { color: #8a5a00; }
.badge.dead { color: var(--danger); }
@media (prefers-color-scheme: dark) { .badge.test, .badge.pending { color: #f0c36d; } }
dl.kv { margin: 0; display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 8px 16px; font-size: 15px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
code.value { overflow-wrap: anywhere; word-break: break-all; }
.secret { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; background: var(--bg); border: 1px solid var(--border); border-radius: 10px; padding: 10px 12px; margin: 6px 0 14px; }
.secret code { flex: 1 1 200px; min-width: 0; font-size: 14px; overflow-wrap: anywhere; word-break: break-all; user-select: all; }
.secret .btn { min-height: 38px; padding: 6px 14px; font-size: 14px; }
.rows { list-style: none; margin: 0; padding: 0; }
.rows > li { display: flex; gap: 12px; align-items: center; justify-content: space-between; padding: 14px 0; flex-wrap: wrap; }
.rows > li + li { border-top: 1px solid var(--border); }
.rows .main { flex: 1 1 260px; min-width: 0; overflow-wrap: anywhere; }
.rows .meta { color: var(--muted); font-size: 14px; }
.inline { display: flex; gap: 10px; align-items: flex-end; flex-wrap: wrap; }
.inline .field { margin-bottom: 0; flex: 1 1 200px; min-width: 0; }
.section { margin-top: 28px; padding-top: 20px; border-top: 1px solid var(--border); }
.section:first-child { margin-top: 0; padding-top: 0; border-top: 0; }
.danger-zone { border-color: var(--danger); }
.btn-small { min-height: 38px; padding: 6px 14px; font-size: 14px; }
.pager { display: flex; justify-content: flex-end; margin-top: 12px; }
@media (max-width: 720px) {
  .grid2 { grid-template-columns: minmax(0, 1fr); }
  dl.kv { grid-template-columns: minmax(0, 1fr); gap: 2px; }
  dl.kv dd { margin-bottom: 8px; }
  .top { flex-wrap: wrap; }
  .tabs a { padding: 8px 10px; }
}
`;

/**
 * Copy buttons: rendered `hidden`, shown only when this script runs and the Clipboard API exists,
 * so a visitor without JavaScript never sees a button that does nothing (the secret stays
 * selectable text either way).
 */
export const PORTAL_SCRIPT = `'use strict';
for (const button of document.querySelectorAll('button[data-copy]')) {
  const target = document.getElementById(button.getAttribute('data-copy'));
  if (!target || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener('click', () => {
    navigator.clipboard.writeText(target.textContent.trim()).then(
      () => { button.textContent = button.getAttribute('data-copied'); },
      () => { button.hidden = true; },
    );
  });
}
`;
