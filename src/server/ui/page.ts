// The web pages' same-origin files and security headers. The pages themselves are rendered on the
// server (views.ts) and work without JavaScript; the script only adds copy buttons to the pull
// commands. The pages carry no inline script or style: the CSP allows only these files.
const STYLE = `:root{--fg:#1d2330;--muted:#4b5563;--bg:#f6f7f9;--line:#dde1e7;--accent:#1d4ed8}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
header.top{display:flex;flex-wrap:wrap;gap:.6rem 1.5rem;align-items:center;justify-content:space-between;padding:.8rem 1.2rem;background:#fff;border-bottom:1px solid var(--line)}
header.top .home{font-weight:700;font-size:1.1rem;color:var(--fg);text-decoration:none}
form.search{display:flex;gap:.4rem;flex:1 1 16rem;max-width:32rem}
form.search input{flex:1;min-width:0;font:inherit;padding:.35rem .5rem;border:1px solid #9ca3af;border-radius:4px}
button{font:inherit;padding:.3rem .8rem;border:1px solid #9ca3af;border-radius:4px;background:#fff;color:var(--fg);cursor:pointer}
main{max-width:72rem;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.4rem;margin:.6rem 0;overflow-wrap:anywhere}h2{font-size:1.1rem;margin:1.6rem 0 .5rem;overflow-wrap:anywhere}h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta,.note{color:var(--muted)}.meta{margin:.2rem 0;overflow-wrap:anywhere}
.problem{color:#b91c1c;font-weight:600}
ul.repos,ul.tags{list-style:none;padding:0;margin:0}
li.repo,li.tag,section.image{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;margin:.8rem 0}
li.repo h2,li.tag h2,section.image h2{margin:.1rem 0 .3rem}
.kind{font-size:.75rem;font-weight:600;padding:.1rem .45rem;border-radius:4px;background:#e6efff;color:#1e40af;white-space:nowrap}
ul.chips{list-style:none;padding:0;margin:.4rem 0 0;display:flex;flex-wrap:wrap;gap:.3rem}
ul.chips li{font-size:.8rem;padding:.05rem .45rem;border-radius:999px;background:#eef0f3}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;overflow-wrap:anywhere}
code.digest{word-break:break-all}
.scroll{overflow-x:auto;margin:.4rem 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-size:.75rem;letter-spacing:.03em;color:var(--muted)}
td{white-space:nowrap}td.wrap{white-space:normal;min-width:12rem}
.cmd{display:flex;gap:.5rem;align-items:flex-start;background:#111827;color:#f9fafb;border-radius:6px;padding:.5rem .7rem;margin:.4rem 0}
.cmd code{flex:1;min-width:0;font-size:.85rem;word-break:break-all;user-select:all}
.cmd button{flex:none;background:#374151;color:#fff;border-color:#6b7280;font-size:.8rem;padding:.15rem .6rem}
dl.config{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:.4rem 0}
dl.config dt{font-weight:600}dl.config dd{margin:0;min-width:0}
ol.argv{margin:0;padding-left:1.4rem}ul.plain{list-style:none;padding:0;margin:0}
ol.history{padding-left:1.8rem;margin:.3rem 0}ol.history li{margin:.15rem 0}ol.history li.empty code{color:var(--muted)}
nav.pager{display:flex;gap:1rem;margin:1.2rem 0;color:var(--muted)}
nav.crumbs{margin:.3rem 0;overflow-wrap:anywhere}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){table :is(th,td):nth-child(4){display:none}th,td{padding:.3rem .3rem}td.digest code{font-size:.72rem}main{padding:.6rem .7rem 2rem}dl.config{grid-template-columns:1fr}dl.config dd{margin-bottom:.4rem}li.repo,li.tag,section.image{padding:.6rem .7rem}}
`;

// Plain browser JavaScript: a copy button beside each pull command. The command's text is read
// with textContent and written with the clipboard API; nothing from the page becomes markup.
const SCRIPT = `'use strict';
(() => {
  for (const box of document.querySelectorAll('.cmd')) {
    const code = box.querySelector('code');
    if (!code) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy command: ' + code.textContent);
    button.addEventListener('click', () => {
      const done = (label) => {
        button.textContent = label;
        setTimeout(() => { button.textContent = 'Copy'; }, 1500);
      };
      const select = () => {
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        done('Selected');
      };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(code.textContent).then(() => done('Copied'), select);
      else select();
    });
    box.append(button);
  }
})();
`;

/** The pages' same-origin files (the CSP allows no other script or style). */
export function pageAsset(path: string): { readonly contentType: string; readonly body: string } | undefined {
  if (path === '/ui/app.js') return { contentType: 'text/javascript; charset=utf-8', body: SCRIPT };
  if (path === '/ui/app.css') return { contentType: 'text/css; charset=utf-8', body: STYLE };
  return undefined;
}

/** Sent with every response. Anything but the pages is data: if a browser ever renders one as a
 * document (a manifest GET answers with the media type it was stored with), it runs sandboxed,
 * with no script and nothing loaded. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The pages' policy: their own script and style only, no inline script, no plugins, no framing; the search form submits to the same origin. */
export const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
