const http = require("http");
http.createServer((_req, res) => res.end(`hello from node ${process.version}`)).listen(process.env.PORT, "0.0.0.0");
