// hello-node: a dependency-free Node web app for Railyard. Listens on $PORT.
const http = require("http");
const fs = require("fs");
const path = require("path");

const version = fs.readFileSync(path.join(__dirname, "VERSION"), "utf8").trim();
const port = parseInt(process.env.PORT || "3000", 10);

http
  .createServer((req, res) => {
    if (req.url.startsWith("/env/")) {
      const name = req.url.slice("/env/".length);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ [name]: process.env[name] ?? null }));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`Hello from Railyard! (node, version ${version})\n`);
  })
  .listen(port, "127.0.0.1", () => console.log(`hello-node ${version} listening on ${port}`));
