// The registry's web page: a small static page that renders /api/repositories, like Docker
// Hub's tag page (platform matrix per tag). No build step, no framework.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyarch registry</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.tag{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.kind{font-size:.75rem;padding:.1rem .4rem;border-radius:4px;background:#e6efff;color:#1d4ed8;margin-left:.5rem}
table{border-collapse:collapse;margin-top:.5rem;width:100%}th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #eef0f3}
td.digest{font-family:ui-monospace,monospace;font-size:.8rem}.muted{color:#6b7280}
</style></head>
<body><h1>polyarch registry</h1><div id="repos" class="muted">loading…</div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const size = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + ' MB' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' kB' : n + ' B';
fetch('/api/repositories').then((r) => r.json()).then((repos) => {
  const root = document.getElementById('repos');
  root.className = '';
  if (repos.length === 0) { root.innerHTML = '<p class="muted">No repositories yet. Push with polyarch, skopeo or docker.</p>'; return; }
  root.innerHTML = repos.map((repo) => '<h2 data-repo="' + esc(repo.name) + '">' + esc(repo.name) + '</h2>' + repo.tags.map((t) =>
    '<div class="tag" data-tag="' + esc(t.tag) + '"><strong>' + esc(t.tag) + '</strong><span class="kind">' + esc(t.kind === 'index' ? 'index · ' + t.platforms.filter((p) => !p.attestation).length + ' platforms' : t.kind) + '</span>' +
    (t.referrers ? ' <span class="muted">' + t.referrers + ' referrer(s)</span>' : '') +
    '<div class="muted digest">' + esc(t.digest) + '</div>' +
    '<table><thead><tr><th>OS/ARCH</th><th>DIGEST</th><th>SIZE</th><th>CREATED</th></tr></thead><tbody>' +
    t.platforms.map((p) => '<tr class="platform"><td>' + esc(p.attestation ? 'attestation' : p.platform) + '</td><td class="digest">' + esc(p.digest.slice(0, 19)) + '…</td><td>' + size(p.size) + '</td><td>' + esc(p.created ?? '') + '</td></tr>').join('') +
    '</tbody></table></div>').join('')).join('');
}).catch((e) => { document.getElementById('repos').textContent = 'cannot load: ' + e; });
</script></body></html>`;

export function renderPage(): string {
  return PAGE;
}
