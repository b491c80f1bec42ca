// Used by scripts/check_docs_site.py:  node scripts/docs_search_check.js SITE_DIR "query"  -> the top 5 locations, exit 1 if none.
// Run the built site's own search worker (Material's lunr bundle) in Node on its search index.
const fs = require("fs"), path = require("path"), vm = require("vm");
const [site, query] = process.argv.slice(2);
const workers = path.join(site, "assets", "javascripts", "workers");
const worker = fs.readdirSync(workers).find(f => /^search\..*\.min\.js$/.test(f));
const index = JSON.parse(fs.readFileSync(path.join(site, "search", "search_index.json"), "utf8"));
let handler = null; const replies = [];
const sandbox = { console, setTimeout, postMessage: m => replies.push(m),
                  addEventListener: (type, fn) => { if (type === "message") handler = fn; },
                  importScripts: () => {} };
sandbox.self = sandbox; vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(path.join(workers, worker), "utf8"), sandbox);
(async () => {
  handler({ data: { type: 0, data: { ...index, options: { suggest: false } } } }); await new Promise(r => setTimeout(r, 50));
  while (!replies.length) await new Promise(r => setTimeout(r, 50));
  handler({ data: { type: 2, data: query } });
  while (replies.length < 2) await new Promise(r => setTimeout(r, 50));
  const items = replies[1].data.items;
  console.log(JSON.stringify(items.slice(0, 5).map(group => group[0] ? group[0].location : group.location)));
  process.exit(items.length ? 0 : 1);
})();
