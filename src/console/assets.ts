/**
 * The console's only asset: its stylesheet, served by the Worker under a path that names its
 * version (pinned; cached for a year; a change bumps CSS_VERSION). No script: every page works
 * as plain HTML forms.
 *
 * Colours meet WCAG AA contrast (4.5:1 for text) on their backgrounds; focus is always visible.
 */
export const CSS_VERSION = "2";
export const CSS_PATH = `/console/assets/${CSS_VERSION}/console.css`;

export const CONSOLE_CSS = `
:root{--fg:#1b1f24;--muted:#4d5561;--bg:#fff;--panel:#f5f7fa;--line:#d0d7de;--accent:#0b5cad;--accent-fg:#fff;
--ok:#1a6b2f;--warn:#8a4b00;--bad:#b3261e;--focus:#ffbf47}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--fg);color:#fff;padding:.5rem 1rem}
.skip:focus{left:0;z-index:10}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:1rem;padding:.6rem 1.5rem;background:#102a43;color:#fff}
header.top a{color:#fff}
header.top .brand{font-weight:700;text-decoration:none;margin-right:1rem}
header.top nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
header.top nav a[aria-current=page]{text-decoration:underline;text-decoration-thickness:3px;text-underline-offset:6px}
header.top .who{margin-left:auto;display:flex;gap:.75rem;align-items:center;font-size:.9rem}
header.top .who button{background:transparent;color:#fff;border:1px solid #fff}
main{max-width:72rem;margin:0 auto;padding:1.25rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.75rem 0 .6rem}
h3{font-size:1rem;margin:1rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cur{color:var(--muted);font-size:.85em;margin-left:.25em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.75rem;margin:0 0 1rem;padding:0;list-style:none}
.cards li{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem}
.cards .label{display:block;color:var(--muted);font-size:.85rem}
.cards .value{display:block;font-size:1.25rem;font-weight:600;text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 .45rem;border-radius:999px;border:1px solid currentColor;font-size:.8rem;font-weight:600;white-space:nowrap}
.st-paid,.st-synced,.ok{color:var(--ok)}
.st-partially_paid,.st-sent,.st-pending,.warn{color:var(--warn)}
.st-overpaid,.st-cancelled,.st-failed,.bad{color:var(--bad)}
.st-draft{color:var(--muted)}
.notice{border-left:4px solid var(--accent);background:#eef5fc;padding:.6rem .9rem;margin:0 0 1rem}
.notice.error{border-color:var(--bad);background:#fdf0ef}
.notice.warning{border-color:var(--warn);background:#fdf6ec}
form.inline{display:inline}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-start;margin:.5rem 0 1rem}
.panel{border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem;background:#fff}
fieldset{border:1px solid var(--line);border-radius:6px;margin:0 0 .75rem;padding:.6rem .9rem}
legend{font-weight:600;padding:0 .3rem}
label{display:block;font-weight:600;margin:.4rem 0 .15rem}
.radio label,.check label{display:inline;font-weight:400;margin:0 .8rem 0 .25rem}
input[type=text],input[type=password],input[type=search],input[type=date],select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid #6e7781;border-radius:4px;min-width:14rem;max-width:100%}
textarea{width:100%;min-height:4rem}
button,.button{font:inherit;font-weight:600;padding:.4rem .9rem;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}
button.danger{background:var(--bad);border-color:var(--bad)}
.filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:0 0 1rem}
.filters label{margin:0 0 .15rem}
.muted{color:var(--muted)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:3px solid var(--line);padding:.2rem 0 .6rem .8rem}
ol.timeline time{color:var(--muted);font-size:.85rem}
.pager{display:flex;gap:1rem;margin:.5rem 0}
main.narrow{max-width:30rem;margin-top:2.5rem}
.wide{width:100%}
table.narrow{max-width:36rem}
.flush-top{margin-top:0}
.prewrap{white-space:pre-line}
.visually-hidden{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;
