"""The GitLinkStore port (chalicelib/domain/git.py) on the platform's table.

| item        | pk                               | sk          | TTL                           |
|-------------|----------------------------------|-------------|-------------------------------|
| GitLink     | GITLINK#<service id>             | GITLINK     | -                             |
| delivery    | GITDELIVERY#<service id>#<id>    | GITDELIVERY | claimed + DELIVERY_KEPT (7 d) |

One link per service, read by the service id the webhook URL names (a GetItem). A delivery is
claimed with a PutItem conditioned on its key not existing: of ten deliveries of one id, one put
succeeds and the other nine are told it was claimed, however they interleave. Nothing lists either
kind, so neither has index keys.
"""

from __future__ import annotations

import dataclasses

from chalicelib.adapters.dynamo.table import OnTable
from chalicelib.adapters.dynamo.writes import _CONDITIONAL_CHECK_FAILED_EXCEPTION
from chalicelib.domain.errors import Conflict
from chalicelib.domain.git import GitLink

LINK = "GITLINK"
DELIVERY = "GITDELIVERY"


class DynamoGitLinkStore(OnTable):
    def save_link(self, link: GitLink) -> None:
        from pynamodb.exceptions import PutError
        from pynamodb.expressions.operand import Path

        body = dataclasses.asdict(link)
        version = body.pop("version")
        item = self._t.item(f"{LINK}#{link.service_id}", LINK, kind=LINK, version=version, body=body)
        condition = Path("pk").does_not_exist() if version == 1 else Path("version") == version - 1
        try:
            item.save(condition=condition)
        except PutError as error:
            if error.cause_response_code == _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise Conflict(
                    f"the Git link of service {link.service_id} was changed concurrently"
                ) from None
            raise

    def find_link(self, service_id: str) -> GitLink | None:
        item = self._t.item
        try:
            found = item.get(f"{LINK}#{service_id}", LINK, consistent_read=True)
        except item.DoesNotExist:
            return None
        values = found.attribute_values
        return GitLink(**{**values["body"], "version": int(values["version"])})

    def claim_delivery(self, service_id: str, delivery_id: str, expires_at: int) -> bool:
        from pynamodb.exceptions import PutError
        from pynamodb.expressions.operand import Path

        item = self._t.item(
            f"{DELIVERY}#{service_id}#{delivery_id}",
            DELIVERY,
            kind=DELIVERY,
            version=1,
            body={},
            expires_at=expires_at,
        )
        try:
            item.save(condition=Path("pk").does_not_exist())
        except PutError as error:
            if error.cause_response_code == _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                return False
            raise
        return True

    def release_delivery(self, service_id: str, delivery_id: str) -> None:
        self._t.item(f"{DELIVERY}#{service_id}#{delivery_id}", DELIVERY).delete()
