const express = require("express");
const app = express();
app.get("/", (_req, res) => res.send("express says hello"));
app.listen(process.env.PORT, "0.0.0.0");
