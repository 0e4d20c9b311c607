"""Drives a waform sandbox with the official 1msg Python SDK (one-msg-sdk 1.0.2).

Lists templates, adds one with a FLOW button, sends it with a Flow button
parameter, removes it. Exits non-zero on the first surprise.

Usage: check.py BASE_URL INSTANCE TOKEN
"""

import json
import sys
import urllib.request

import one_msg_sdk
from one_msg_sdk import (
    AddTemplateRequest,
    ApiClient,
    Configuration,
    SendTemplateRequest,
    SendTemplateRequestLanguage,
    TemplatesApi,
)

FLOW_ID = "1234567890123456"


def control(base, path, body=None):
    """The sandbox's own /_sandbox endpoints (no SDK for those)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def main():
    base, instance, token = sys.argv[1:4]
    # The SDK's default host has no instance id (docs/provider-1msg.md §1.1): the
    # channel goes into the host.
    config = Configuration(host=f"{base.rstrip('/')}/{instance}")
    api = TemplatesApi(ApiClient(config))

    control(base, "/_sandbox/flows", {"id": FLOW_ID, "name": "signup", "status": "PUBLISHED"})

    before = api.list_templates(token)
    check(before.templates is not None, "list_templates returns a templates array")
    name = "sdk_check_signup"

    added = api.add_template(
        token,
        AddTemplateRequest(
            name=name,
            category="MARKETING",
            language="en_US",
            components=[
                {"type": "HEADER", "format": "TEXT", "text": "Spring courses"},
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, our spring courses are open.",
                    "example": {"body_text": [["Anna"]]},
                },
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "FLOW",
                            "text": "Sign up",
                            "flow_id": FLOW_ID,
                            "flow_action": "navigate",
                            "navigate_screen": "WELCOME",
                        },
                        {"type": "QUICK_REPLY", "text": "Not now"},
                    ],
                },
            ],
        ),
    )
    check(isinstance(added, dict), f"add_template answers an object: {added!r}")

    listed = api.list_templates(token)
    mine = [t for t in listed.templates if t.get("name") == name]
    check(len(mine) == 1, f"the new template is listed once: {listed.templates!r}")
    check(mine[0]["status"].upper() == "PENDING", f"a new template is pending: {mine[0]!r}")
    namespace = mine[0].get("namespace")

    control(base, f"/_sandbox/templates/{name}/approve", {})
    listed = api.list_templates(token)
    mine = [t for t in listed.templates if t.get("name") == name]
    check(mine[0]["status"].upper() == "APPROVED", f"approved after review: {mine[0]!r}")

    sent = api.send_template(
        token,
        SendTemplateRequest(
            template=name,
            language=SendTemplateRequestLanguage(policy="deterministic", code="en_US"),
            namespace=namespace,
            phone="15551234567",
            params=[
                {"type": "body", "parameters": [{"type": "text", "text": "Anna"}]},
                {
                    "type": "button",
                    "sub_type": "flow",
                    "index": "0",
                    "parameters": [
                        {
                            "type": "action",
                            "action": {
                                "flow_token": "sdk-check-token",
                                "flow_action_data": {"fname": "Anna"},
                            },
                        }
                    ],
                },
            ],
        ),
    )
    check(sent.get("sent") is True and sent.get("id"), f"send_template accepted: {sent!r}")

    sends = control(base, "/_sandbox/sends")
    check(
        any(
            s["id"] == sent["id"]
            and s["flow_token"] == "sdk-check-token"
            and s["params"] == ["Anna"]
            and s["phone"] == "15551234567"
            for s in sends
        ),
        f"the sandbox logged the send with its flow_token: {sends!r}",
    )

    removed = api.remove_template(token, {"name": name})
    check(isinstance(removed, dict), f"remove_template answers an object: {removed!r}")
    after = api.list_templates(token)
    check(all(t.get("name") != name for t in after.templates), "the template is gone")

    print(f"one-msg-sdk {one_msg_sdk.__version__}: list, add, send with FLOW button, remove: ok")


if __name__ == "__main__":
    main()
