"""DynamoDB adapter for the `Repository` port: every entity in ONE table, through PynamoDB.

This package docstring is the one description of the table; its modules each own one part of it:

- `layout`: key prefixes, index names and where each entity lives (`_keys`), how errors name it
- `items`: entity <-> item (top-level attributes, the JSON `body`, decoding back to entities)
- `table`: the PynamoDB model classes bound per table/region/endpoint, and `OnTable`
- `schema`: `create_table` (indexes, TTL), for the bootstraps and tests
- `writes`: conditional puts and transactions, store errors turned into domain errors
- `repository`: `DynamoRepository`, the reads of the access patterns below on top of the writes

Item layout
-----------
Every item has string keys `pk`/`sk` shaped `KIND#id`, a `kind` (the entity's tag, equal to its
`sk`), a `version` (Number) and a `body`: the entity as JSON. Items listed under a parent also carry
`gsi1pk`/`gsi1sk`, the keys of the global secondary index `gsi1` (ALL projection). Deployments
carry `status` at the top level too, so it can be filtered on or projected later (and a workflow task
could update it with a plain UpdateItem); `version` and `status` are read back from the top level,
never from the body, so each has one source of truth.

| entity           | pk                 | sk           | gsi1pk           | gsi1sk                       |
|------------------|--------------------|--------------|------------------|------------------------------|
| Project          | PROJECT#<id>       | PROJECT      | ORG#<org_id>     | PROJECT#<id>                 |
| Environment      | ENV#<id>           | ENV          | PROJECT#<pid>    | ENV#<id>                     |
| Service          | SERVICE#<id>       | SERVICE      | ENV#<eid>        | SERVICE#<id>                 |
| ServiceVariables | SERVICE#<sid>      | VARIABLES    | -                | -                            |
| SharedVariables  | ENV#<eid>          | VARIABLES    | -                | -                            |
| Deployment       | DEPLOYMENT#<id>    | DEPLOYMENT   | SERVICE#<sid>    | DEPLOYMENT#<id>              |
| Release          | RELEASE#<id>       | RELEASE      | SERVICE#<sid>    | RELEASE#<number:010d>        |
| ApiToken         | TOKEN#<sha256>     | TOKEN        | ORG#<org_id>     | TOKEN#<sha256>               |
| token id pointer | TOKENID#<id>       | TOKENID      | -                | -                            |
| BuiltSource      | BUILT#<sid>#<fp>   | BUILT        | -                | -                            |
| PendingBuild     | PENDINGBUILD#<bid> | PENDINGBUILD | DEPLOYMENT#<did> | PENDINGBUILD#<created>#<bid> |
| idempotency rec. | IDEMPOTENCY#<hash> | IDEMPOTENCY  | -                | -                            |
| HostnameReserv.  | HOSTNAME#<name>    | HOSTNAME     | -                | -                            |
| CustomDomain     | DOMAIN#<hostname>  | DOMAIN       | SERVICE#<sid>    | DOMAIN#<hostname>            |
| live connection  | WSCONN#<conn id>   | WSCONN       | -                | -                            |
| live subscription| WSTOPIC#<topic>    | WSCONN#<cid> | -                | -                            |

Names (docs/decisions/0024): a HostnameReservation is written with its service, in one transaction,
on the condition that no item has that key, so no two services ever share a generated hostname,
whatever their workspaces. A CustomDomain's key is the domain itself, so a domain is held by one
service platform-wide; removing it (chalicelib/adapters/domains.py) deletes the item and frees it.

A deployment in progress (QUEUED, BUILDING or DEPLOYING) also carries `gsi2pk` = `UNFINISHED` and
`gsi2sk` = `DEPLOYMENT#<id>`, the keys of the sparse index `gsi2` (ALL projection). Every save is a
whole-item PutItem, so the save that moves a deployment to an end status drops both attributes and
DynamoDB drops the item from the index: the index holds only what is unfinished, and a query of it
reads nothing else (no Scan, no filter). Its one partition is written twice or three times per
deployment, far below a partition's 1,000 writes/s; shard the key if that ever changes.

PendingBuild items (the task token of a Build step waiting for a CodeBuild build, keyed by the
CodeBuild build id `<project>:<uuid>`) also carry `expires_at`, epoch seconds, the table's TTL
attribute: DynamoDB deletes them a week after the build started (create_table enables the TTL).
Listing them by deployment goes through the (eventually consistent) index; a retried Build step that
misses a just-written item still gets the same build back from CodeBuild's idempotency token.

An ApiToken keeps its `expires_at` (ISO time, what AuthService checks) in the body; its item's TTL
attribute is that moment plus TOKEN_TTL_GRACE_DAYS, so DynamoDB deletes expired tokens some time
after they stop working. Its top-level `last_used_at` (ISO) is set in place by mark_token_used, at
most once per AuthService cache window per container; a MemberToken's `user_id` (who made it) is
kept when it is read back. Tokens made through the API (chalicelib/adapters/tokens_store.py) also
get a `TOKENID#<id>` pointer written in the same transaction, so a revocation by id finds the hash.
Workspaces, members, invitations and the audit log: chalicelib/adapters/workspaces_store.py and
audit_store.py.
Per-project deployment metrics (docs/decisions/0039): one item per deployment, `pk` =
`METRICS#<project id>`, `sk` = `DEPLOYMENT#<created_at>#<deployment id>`, written and read only by
chalicelib/adapters/metrics_store.py (its docstring has the attributes; TTL: 91 days).

Live-update connections and subscriptions (chalicelib/adapters/live_store.py, docs/decisions/0040)
carry no `body` or `version`: a connection keeps the encoded principal and its topics, a
subscription (one partition per topic, `deployment#<id>` or `project#<id>`) only its key; both have
the TTL attribute `expires_at` (3 h: API Gateway closes a connection after 2 h).

Idempotency records (the first answer of an API request sent with an Idempotency-Key; `<hash>` is
`api#sha256(caller, method and path, key)`) are written by chalicelib/adapters/idempotency.py in
Powertools' item shape, not this module's: `status`, `data`, `validation`, `in_progress_expiration`
and `expires_at` (the TTL; a day by default), no `kind`, `version` or `body`. Each has its own
partition; nothing lists them.

Access patterns (no Scan anywhere)
----------------------------------
"Get pk / sk" is a strongly consistent GetItem; "gsi1 X / Y..." is a Query on index gsi1 with
gsi1pk = X and begins_with(gsi1sk, Y), which also keeps kinds sharing a gsi1pk apart (an org's
projects and tokens; a service's deployments and releases); "gsi2 X / Y..." likewise on gsi2.

| access pattern          | method                      | served by                                          |
|-------------------------|-----------------------------|----------------------------------------------------|
| token by hash (auth)    | get_token                   | Get TOKEN#<hash> / TOKEN                           |
| project by id           | get_project                 | Get PROJECT#<id> / PROJECT                         |
| projects of an org      | list_projects               | gsi1 ORG#<org> / PROJECT#..., asc                  |
| environment by id       | get_environment             | Get ENV#<id> / ENV                                 |
| environments of project | list_environments           | gsi1 PROJECT#<pid> / ENV#..., asc                  |
| service by id           | get_service                 | Get SERVICE#<id> / SERVICE                         |
| services of environment | list_services               | gsi1 ENV#<eid> / SERVICE#..., asc                  |
| variables of a service  | get_variables               | Get SERVICE#<sid> / VARIABLES (absent: version 0)  |
| service + its variables | get_service_with_variables  | Query SERVICE#<sid> (both items), consistent       |
| shared variables of env | get_shared_variables        | Get ENV#<eid> / VARIABLES (absent: version 0)      |
| deployment by id        | get_deployment              | Get DEPLOYMENT#<id> / DEPLOYMENT                   |
| deployments of service  | list_deployments            | gsi1 SERVICE#<sid> / DEPLOYMENT#..., desc, Limit   |
| release by id           | get_release                 | Get RELEASE#<id> / RELEASE                         |
| releases of a service   | list_releases               | gsi1 SERVICE#<sid> / RELEASE#..., desc, Limit      |
| tokens of an org        | DynamoTokenStore.tokens_of  | gsi1 ORG#<org> / TOKEN#...                         |
| token by id (revoke)    | DynamoTokenStore.by_id      | Get TOKENID#<id> / TOKENID, then Get TOKEN#<hash>  |
| token last used         | mark_token_used             | UpdateItem TOKEN#<hash> SET last_used_at (exists)  |
| earlier build of source | get_built_source            | Get BUILT#<sid>#<fingerprint> / BUILT              |
| waiting step of a build | get_pending_build           | Get PENDINGBUILD#<build id> / PENDINGBUILD         |
| builds of a deployment  | list_pending_builds         | gsi1 DEPLOYMENT#<did> / PENDINGBUILD#..., asc      |
| deployments in progress | list_unfinished_deployments | gsi2 UNFINISHED / DEPLOYMENT#..., asc              |
| first answer of a key   | DynamoIdempotency.once      | Get/conditional Put/Update/Delete IDEMPOTENCY#<h>  |
| reserve a hostname      | save(service, reservation)  | conditional Put HOSTNAME#<name> in the transaction |
| domain by hostname      | DynamoDomainStore.get_domain| Get DOMAIN#<hostname> / DOMAIN                     |
| domains of a service    | DynamoDomainStore.list_...  | gsi1 SERVICE#<sid> / DOMAIN#..., asc               |
| remove a domain         | DynamoDomainStore.delete_...| TransactWriteItems: Delete DOMAIN# + Put SERVICE#  |
| subscribers of a topic  | DynamoLiveConnections.subs..| Query WSTOPIC#<topic> (keys only)                  |
| close a live connection | DynamoLiveConnections.remove| Delete WSCONN#<id> (old topics), Delete WSTOPIC#s  |
| create a deployment     | save(deployment, audit, ...)| TransactWriteItems: Put DEPLOYMENT# + Put AUDIT#   |
| deploy by service id    | save_for_service(sid, ...)  | the same + ConditionCheck SERVICE#<sid> exists     |
| save 1..100 all-or-none | save                        | 1: conditional PutItem; 2..100: TransactWriteItems |
| keep a deployment event | DynamoMetricsStore.record   | UpdateItem METRICS#<pid> / DEPLOYMENT#<at>#<did>,  |
|                         |                             | if that event's time is not set yet                |
| metrics of a project    | DynamoMetricsStore.deploy...| Query METRICS#<pid> / DEPLOYMENT#<since> .. ~      |

"asc"/"desc" is id order: ids are time-sortable (chalicelib/domain/ids.py); releases sort by
their zero-padded number instead, which is the order users see, and pending builds by start time.

Concurrency and consistency
---------------------------
Each put is conditioned on the entity's version: version 1 -> `attribute_not_exists(pk)`; version
N > 1 -> the stored `version = N-1`. A failed condition raises `Conflict` naming the entity, and
nothing of the call is written. GetItem reads are strongly consistent because callers read, bump and
write back: a stale read would only turn into a spurious Conflict. Index queries are eventually
consistent (DynamoDB offers nothing else on a GSI), so a just-saved child may be missing from a list
for a moment on real AWS.

Why the body is a JSON string rather than a Map: DynamoDB normalises numbers (60.0 comes back as 60)
and PynamoDB's raw maps need per-type handling; a JSON string round-trips exactly, and nothing queries
inside the body (anything worth filtering is promoted to a top-level attribute, as `status` is).

PynamoDB (and botocore under it, ~0.2 s) is imported inside the functions that need it, and the model
classes are built per (table, region, endpoint) on first use, because PynamoDB binds table name, region
and endpoint at class level. Importing any of these modules therefore costs only the domain models.
"""
