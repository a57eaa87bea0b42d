"""The local authorization list (1.6 SendLocalList, 2.0.1 D01): Full or Differential, and its entries (pure).

Versions are the id tag table's numbered changes: the list after change N has version N. A charger holding
version H gets a Differential of the tags changed after H (a tag gone is sent without its info, which removes
it); a Full list when it holds none (0; 1.6 also -1, "no list support" answered by some), holds a version we
never made, or one older than the changes we keep.
"""

from __future__ import annotations

from typing import Any, Literal

Update = Literal["Full", "Differential", "UpToDate"]
Tag = dict[str, Any]  # id_tag, status, expiry_date (ISO text), group_id, type


def update_for(held: int | None, oldest: int, newest: int) -> Update:
    """What a charger holding version `held` needs, the changes kept being versions `oldest`..`newest`."""
    if held is None or held <= 0 or held > newest or (oldest > 0 and held < oldest - 1):
        return "Full"
    return "UpToDate" if held == newest else "Differential"


def entry(version: str, id_tag: str, tag: Tag | None) -> dict[str, Any]:
    """One list entry in the charger's version; `tag` None: the tag is removed from the list."""
    if version == "1.6":
        out: dict[str, Any] = {"idTag": id_tag}
        if tag is not None:
            info: dict[str, Any] = {"status": tag["status"]}
            if tag.get("expiry_date"):
                info["expiryDate"] = tag["expiry_date"]
            if tag.get("group_id"):
                info["parentIdTag"] = tag["group_id"]
            out["idTagInfo"] = info
        return out
    out = {"idToken": {"idToken": id_tag, "type": (tag or {}).get("type") or "Central"}}
    if tag is not None:
        info = {"status": tag["status"]}
        if tag.get("expiry_date"):
            info["cacheExpiryDateTime"] = tag["expiry_date"]
        if tag.get("group_id"):
            info["groupIdToken"] = {"idToken": tag["group_id"], "type": "Central"}
        out["idTokenInfo"] = info
    return out


def local_list_payload(
    version: str, list_version: int, update: Update, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The SendLocalList payload of the charger's version."""
    if version == "1.6":
        return {"listVersion": list_version, "updateType": update, "localAuthorizationList": entries}
    return {"versionNumber": list_version, "updateType": update, "localAuthorizationList": entries}


def held_version(version: str, answer: dict[str, Any]) -> int | None:
    """The version a GetLocalListVersion answer says the charger holds."""
    value = answer.get("listVersion" if version == "1.6" else "versionNumber")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
