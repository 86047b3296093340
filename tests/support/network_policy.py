"""What a set of NetworkPolicies lets through: the networking.k8s.io/v1 semantics, for asserting on
rendered policies by the connections a user would notice (an app reaching the metadata endpoint,
another namespace, the DNS) instead of by their shape.

Conservative where implementations differ: an `ipBlock` matches a pod's IP as well as an address
outside the cluster (Calico and the AWS VPC CNI do so; Cilium matches only the outside), so a
policy that relies on `ipBlock` excepts to keep pods apart passes here only when it does so under
the stricter reading.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: an address, and, for a pod, its namespace and labels."""

    ip: str
    namespace: str | None = None  # None: outside the cluster (or a node, a Service's backend host)
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)


def _selector_matches(selector: JSON | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, values = expr["key"] in labels, expr.get("values") or []
        op = expr["operator"]
        if op == "In" and not (present and labels[expr["key"]] in values):
            return False
        if op == "NotIn" and present and labels[expr["key"]] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: JSON, other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        network = ipaddress.ip_network(block["cidr"])
        if address.version != network.version or address not in network:
            return False
        return not any(
            address.version == ipaddress.ip_network(c).version and address in ipaddress.ip_network(c)
            for c in block.get("except") or []
        )
    if other.namespace is None:  # selectors select pods only
        return False
    namespace_labels = {**other.namespace_labels, NAME_LABEL: other.namespace}
    if "namespaceSelector" in peer:
        if not _selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif other.namespace != policy_namespace:  # a podSelector alone: the policy's own namespace
        return False
    return _selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(ports: list[JSON] | None, port: int, protocol: str, named: dict[str, int]) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        number = named.get(wanted) if isinstance(wanted, str) else wanted
        if number == port or (isinstance(wanted, int) and wanted <= port <= entry.get("endPort", wanted)):
            return True
    return False


def allows(
    policies: list[JSON],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
    named_ports: dict[str, int] | None = None,
) -> bool:
    """Whether `source` may open a connection to `destination` on `port`: allowed by the source's
    egress policies (if any selects it) and by the destination's ingress policies (likewise)."""
    named = named_ports or {}

    def direction_allows(kind: str, pod: Endpoint, other: Endpoint) -> bool:
        if pod.namespace is None:
            return True  # policies apply to pods only
        selecting = [
            p
            for p in policies
            if p["metadata"]["namespace"] == pod.namespace
            and kind in p["spec"].get("policyTypes", ["Ingress"])
            and _selector_matches(p["spec"].get("podSelector"), pod.labels)
        ]
        if not selecting:
            return True  # not isolated in this direction
        key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
        return any(
            (
                not rule.get(peers_key)
                or any(_peer_matches(peer, other, pod.namespace) for peer in rule[peers_key])
            )
            and _port_matches(rule.get("ports"), port, protocol, named)
            for policy in selecting
            for rule in policy["spec"].get(key) or []
        )

    return direction_allows("Egress", source, destination) and direction_allows(
        "Ingress", destination, source
    )
