#!/usr/bin/env python3
"""Writes the seed corpus of the token_differential fuzz target.

    fuzz/token_differential_seeds.py path/to/json_web_signature_test.json

The JSON file is Wycheproof's testvectors_v1/json_web_signature_test.json
(github.com/C2SP/wycheproof). Its HS256 vectors become raw-token seeds
(mode byte 0): the "hs256" group (tcId 1-17, signed with the key the target
uses, so valid signatures over non-claims payloads), the "base64" group
(tcId 357-377, base64url edge cases) and the RFC 7520 HS256 figure (another
key). The RSA, ECDSA and PSS groups cannot apply to an HS256-pinned
verifier beyond "another alg is refused", which the signed seeds below and
the access_token target cover.

Signed seeds (mode byte 1, twist 0) are header and payload JSON the target
signs itself: a valid token of each purpose, and near misses on each rule.
Structured seeds (mode byte 3) pick each member from the target's menus.
"""

import json
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "token_differential")
SUB = "0193b4a0-0000-7000-8000-000000000001"
JTI = "0193b4a0-0000-7000-8000-0000000000aa"
SID = "0193b4a0-0000-7000-8000-0000000000bb"


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def signed(name, header, payload, twist=0):
    header, payload = header.encode(), payload.encode()
    write("signed-" + name, bytes([1, twist]) + struct.pack("<H", len(header)) + header + payload)


def claims(typ, **extra):
    body = {"sub": SUB, "typ": typ, "aud": "tower-users", "iat": "IAT", "exp": "EXP", "jti": JTI}
    body.update(extra)
    text = json.dumps(body, separators=(",", ":"))
    return text.replace('"IAT"', "N0W").replace('"EXP"', "N0W+9")


def main():
    os.makedirs(OUT, exist_ok=True)
    vectors = json.load(open(sys.argv[1]))
    for group in vectors["testGroups"]:
        key = group.get("private") or group.get("public") or {}
        if key.get("alg") != "HS256":
            continue
        for test in group["tests"]:
            write("wycheproof-%d" % test["tcId"], b"\0" + test["jws"].encode())

    h = '{"alg":"HS256","typ":"JWT"}'
    signed("access", h, claims("access", sid=SID))
    signed("verify", h, claims("verify", pv=0, email="a@example.com"))
    signed("email-change", h, claims("email_change", pv=3, email="b@example.com"))
    signed("reset", h, claims("reset", pv=7, email="a@example.com"))
    signed("no-typ-header", '{"alg":"HS256"}', claims("access"))
    signed("kid-null", '{"alg":"HS256","kid":null}', claims("access"))
    signed("kid", '{"alg":"HS256","kid":"k"}', claims("access"))
    signed("crit", '{"alg":"HS256","crit":["exp"]}', claims("access"))
    signed("dup-alg", '{"alg":"HS256","alg":"HS256"}', claims("access"))
    signed("dup-extra", '{"alg":"HS256","x":1,"x":2}', claims("access"))
    signed("alg-lower", '{"alg":"hs256"}', claims("access"))
    signed("alg-none", '{"alg":"none"}', claims("access"))
    signed("expired", h, claims("access").replace("N0W+9", "N0W-1"))
    signed("exp-now", h, claims("access").replace("N0W+9", "N0W"))
    signed("exp-float", h, claims("access").replace("N0W+9", "N0W+9.0"))
    signed("nbf-future", h, claims("access", nbf="NBF").replace('"NBF"', "N0W+5"))
    signed("nbf-float", h, claims("access", nbf="NBF").replace('"NBF"', "N0W.4"))
    signed("nbf-null", h, claims("access", nbf=None))
    signed("aud-array", h, claims("access", aud=["tower-users"]))
    signed("dup-sub", h, claims("access")[:-1] + ',"sub":"%s"}' % SUB)
    signed("dup-unknown", h, claims("access")[:-1] + ',"z":1,"z":2}')
    signed("sub-simple", h, claims("access", sub=SUB.replace("-", "")))
    signed("pv-negative", h, claims("verify", pv=-1))
    signed("sid-null", h, claims("access", sid=None))
    signed("typ-enum-map", h, claims("access").replace('"typ":"access"', '"typ":{"access":null}'))
    signed("huge-number-claim", h, claims("access")[:-1] + ',"x":1e400}')
    signed("huge-number-header", '{"alg":"HS256","x":1e400}', claims("access"))
    signed("lone-surrogate-claim", h, claims("access")[:-1] + ',"x":"\\ud800"}')
    # Structured (mode byte 3): one byte per menu choice; all zeros is a
    # valid access token, the others change the purpose or one claim.
    picks = ["alg", "htyp", "extra", "extra_value", "sub", "typ", "aud", "iat", "exp", "jti",
             "pv", "sid", "email", "nbf", "iss", "x", "rotate"]

    def structured(name, **chosen):
        choices = bytes(chosen.get(p, 0) for p in picks)
        write("structured-" + name, bytes([3, 0]) + choices)

    structured("access")
    structured("verify", typ=1)
    structured("reset-pv", typ=2, pv=2)
    structured("nbf-fraction", nbf=4)
    structured("email-change-rotated", typ=3, email=1, rotate=5)
    signed("padded", h, claims("access"), twist=2)
    signed("bent-bits", h, claims("access"), twist=4)


if __name__ == "__main__":
    main()
