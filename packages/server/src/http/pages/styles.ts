/**
 * The one stylesheet, served from `/assets/renova.css` so the Content-Security-Policy can forbid
 * inline styles. No web fonts, no third-party assets. Colors meet WCAG AA contrast (4.5:1 for text)
 * in both the light and the dark scheme; focus is always visible.
 */
export const STYLESHEET = `
:root {
  color-scheme: light dark;
  --bg: #f3f5f7;
  --surface: #ffffff;
  --text: #16202a;
  --muted: #4a5867;
  --border: #d9e0e6;
  --primary: #0d6b63;
  --primary-hover: #0a5650;
  --on-primary: #ffffff;
  --soft: #e7f3f1;
  --danger: #b42318;
  --danger-soft: #fdecea;
  --focus: #1a73e8;
  --radius: 14px;
  --shadow: 0 1px 2px rgba(16, 24, 40, .06), 0 8px 24px rgba(16, 24, 40, .08);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1418;
    --surface: #182027;
    --text: #e8edf1;
    --muted: #a9b6c2;
    --border: #2c3842;
    --primary: #3fb8aa;
    --primary-hover: #5cc9bc;
    --on-primary: #06221f;
    --soft: #163330;
    --danger: #ff8a80;
    --danger-soft: #3a1f1d;
    --focus: #8ab4f8;
    --shadow: none;
  }
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; min-height: 100vh; display: flex; flex-direction: column;
  background: var(--bg); color: var(--text);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
a { color: var(--primary); text-underline-offset: 2px; }
a:hover { color: var(--primary-hover); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 6px; }
.skip { position: absolute; left: -999px; top: 8px; background: var(--surface); padding: 8px 12px; }
.skip:focus { left: 8px; z-index: 10; }
.top {
  display: flex; align-items: center; justify-content: space-between; gap: 12px;
  max-width: 960px; width: 100%; margin: 0 auto; padding: 18px 20px;
}
.brand { display: inline-flex; align-items: center; gap: 10px; font-weight: 700; font-size: 18px; color: var(--text); text-decoration: none; letter-spacing: -.01em; }
.brand svg { display: block; }
.who { display: flex; align-items: center; gap: 12px; font-size: 14px; color: var(--muted); flex-wrap: wrap; justify-content: flex-end; }
main { flex: 1; width: 100%; padding: 8px 16px 40px; }
.card {
  max-width: 460px; margin: 24px auto 0; background: var(--surface); border: 1px solid var(--border);
  border-radius: var(--radius); box-shadow: var(--shadow); padding: 32px;
}
.card.wide { max-width: 720px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0 0 8px; letter-spacing: -.015em; }
h2 { font-size: 16px; margin: 24px 0 12px; }
p { margin: 0 0 12px; }
.lead { color: var(--muted); margin-bottom: 24px; }
.center { text-align: center; }
.field { margin-bottom: 18px; }
label { display: block; font-weight: 600; font-size: 14px; margin-bottom: 6px; }
input[type=email], input[type=password] {
  width: 100%; padding: 12px 14px; font: inherit; color: var(--text); background: var(--surface);
  border: 1px solid #8796a5; border-radius: 10px;
}
input:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; border-color: var(--focus); }
.btn {
  display: inline-flex; align-items: center; justify-content: center; gap: 8px;
  min-height: 46px; padding: 10px 20px; font: inherit; font-weight: 600; border-radius: 10px;
  border: 1px solid transparent; cursor: pointer; text-decoration: none;
}
.btn-primary { background: var(--primary); color: var(--on-primary); }
.btn-primary:hover { background: var(--primary-hover); color: var(--on-primary); }
.btn-secondary { background: var(--surface); color: var(--text); border-color: #8796a5; }
.btn-secondary:hover { background: var(--bg); }
.btn-danger { background: var(--surface); color: var(--danger); border-color: var(--danger); min-height: 40px; padding: 8px 14px; font-size: 14px; }
.btn-danger:hover { background: var(--danger-soft); }
.btn-block { width: 100%; }
.linklike { background: none; border: 0; padding: 0; font: inherit; color: var(--primary); text-decoration: underline; text-underline-offset: 2px; cursor: pointer; }
.actions { display: flex; gap: 12px; margin-top: 28px; }
.actions .btn { flex: 1; }
.alert { border-radius: 10px; padding: 12px 14px; margin-bottom: 20px; font-size: 15px; }
.alert-error { background: var(--danger-soft); color: var(--danger); border: 1px solid currentColor; }
.alert-ok { background: var(--soft); color: var(--text); border: 1px solid var(--primary); }
.hint { font-size: 13px; color: var(--muted); margin-top: 16px; }
.pair { display: flex; align-items: center; justify-content: center; gap: 14px; margin-bottom: 20px; }
.pair .dots { width: 36px; border-top: 2px dashed var(--border); }
.avatar {
  width: 56px; height: 56px; border-radius: 16px; display: inline-grid; place-items: center;
  font-weight: 700; font-size: 20px; color: #fff; flex: none;
}
.avatar.sm { width: 44px; height: 44px; border-radius: 12px; font-size: 16px; }
.hue-0 { background: #0d6b63; } .hue-1 { background: #3949ab; } .hue-2 { background: #8e3b8a; }
.hue-3 { background: #b3461a; } .hue-4 { background: #1b6ca8; } .hue-5 { background: #5b6b16; }
.account-chip {
  display: flex; align-items: center; justify-content: space-between; gap: 8px; flex-wrap: wrap;
  background: var(--bg); border: 1px solid var(--border); border-radius: 10px; padding: 10px 14px; font-size: 14px;
}
.account-chip strong { overflow-wrap: anywhere; }
.scopes { list-style: none; padding: 0; margin: 0; border: 1px solid var(--border); border-radius: 12px; }
.scopes li { display: flex; gap: 14px; padding: 14px 16px; }
.scopes li + li { border-top: 1px solid var(--border); }
.scopes .icon { flex: none; width: 32px; height: 32px; border-radius: 50%; background: var(--soft); display: grid; place-items: center; color: var(--primary); }
.scopes strong { display: block; }
.scopes span.detail { color: var(--muted); font-size: 14px; }
.notes { margin-top: 20px; font-size: 14px; color: var(--muted); }
.notes p { margin-bottom: 6px; }
.apps { list-style: none; margin: 0; padding: 0; }
.apps > li { display: flex; gap: 16px; align-items: flex-start; padding: 20px 0; }
.apps > li + li { border-top: 1px solid var(--border); }
.apps .body { flex: 1; min-width: 0; }
.apps h2 { margin: 0 0 2px; font-size: 17px; }
.apps .meta { color: var(--muted); font-size: 14px; margin-bottom: 8px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; list-style: none; margin: 0; padding: 0; }
.chips li { font-size: 13px; background: var(--soft); border-radius: 999px; padding: 3px 10px; }
.empty { text-align: center; color: var(--muted); padding: 28px 0 8px; }
.error-icon { width: 52px; height: 52px; border-radius: 50%; background: var(--danger-soft); color: var(--danger); display: grid; place-items: center; margin: 0 auto 16px; }
details { margin-top: 20px; font-size: 14px; }
summary { cursor: pointer; color: var(--muted); }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { background: var(--bg); border: 1px solid var(--border); border-radius: 10px; padding: 14px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
footer { text-align: center; font-size: 13px; color: var(--muted); padding: 16px; }
@media (max-width: 520px) {
  .card { padding: 24px 20px; margin-top: 8px; }
  h1 { font-size: 21px; }
  .actions { flex-direction: column-reverse; }
  .apps > li { flex-wrap: wrap; }
  .apps form { width: 100%; }
  .apps .btn-danger { width: 100%; }
}
`;
