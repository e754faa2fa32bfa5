#!/usr/bin/env python3
"""Writes src/http/openapi.json, the OpenAPI 3.1 document of the lifecycle
routes (API.md). Edit this generator, not the JSON; a test checks the JSON
against the router.

    python3 scripts/openapi.py
"""
import json
import pathlib

P = "#/components/schemas/"


def ref(name):
    return {"$ref": P + name}


def problem(desc):
    return {"description": desc, "content": {"application/problem+json": {"schema": ref("Problem")}}}


ERRORS = {
    "400": "A token is bad, expired, used, stale or of another purpose (INVALID_TOKEN).",
    "401": "Missing, malformed, expired or revoked access token (UNAUTHORIZED), or wrong credentials (INVALID_CREDENTIALS).",
    "403": "Inactive (INACTIVE_USER), unverified (UNVERIFIED_USER) or not allowed (FORBIDDEN).",
    "404": "No such user or route (NOT_FOUND).",
    "408": "The body did not arrive in time (REQUEST_TIMEOUT).",
    "409": "The email is taken (USER_EXISTS).",
    "413": "The body is over the limit (PAYLOAD_TOO_LARGE).",
    "415": "The body is not JSON, or a form where one is accepted (UNSUPPORTED_MEDIA_TYPE).",
    "422": "Malformed JSON, a missing or mistyped field, a bad email or a weak password (VALIDATION_ERROR).",
    "429": "Over a rate limit or locked out (RATE_LIMITED); see Retry-After.",
    "503": "Too busy hashing (SERVICE_UNAVAILABLE); see Retry-After.",
}


def errors(*codes):
    return {c: problem(ERRORS[c]) for c in codes}


def json_body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


# Responses carrying a token or a user record must not be cached (RFC 6749 5.1).
PRIVATE = {P + "UserRecord", P + "TokenResponse", P + "UserPage"}
NO_STORE = {
    "Cache-Control": {"required": True, "schema": {"const": "no-store"}},
    "Pragma": {"required": True, "schema": {"const": "no-cache"}},
}


def ok(status, desc, schema=None):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {"application/json": {"schema": schema}}
        if schema.get("$ref") in PRIVATE:
            r["headers"] = NO_STORE
    return {status: r}


def op(summary, responses, body=None, auth=False, params=None, op_id=None):
    o = {"summary": summary, "operationId": op_id, "responses": responses}
    if body is not None:
        o["requestBody"] = body
    if auth:
        o["security"] = [{"bearer": []}]
    if params:
        o["parameters"] = params
    return o


def obj(props, required=(), extra=True):
    s = {"type": "object", "properties": props, "required": list(required)}
    if not extra:
        s["additionalProperties"] = False
    return s


STR = {"type": "string"}
BOOL = {"type": "boolean"}
TOKEN_PARAM = {"name": "token", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
common = ("408", "413", "415", "422", "429")

paths = {
    "/users/register": {"post": op(
        "Register a user", {**ok("201", "The new user.", ref("UserRecord")), **errors(*common, "409", "503")},
        json_body(ref("RegisterRequest")), op_id="register")},
    "/users/login": {"post": op(
        "Log in", {**ok("200", "A new session.", ref("TokenResponse")), **errors(*common, "401", "403", "503")},
        {"required": True, "content": {
            "application/json": {"schema": ref("LoginRequest")},
            "application/x-www-form-urlencoded": {"schema": ref("LoginForm")}}},
        op_id="login")},
    "/users/refresh": {"post": op(
        "Trade a refresh token for new tokens", {**ok("200", "New tokens; the presented one is spent.", ref("TokenResponse")), **errors(*common, "400", "403")},
        json_body(ref("RefreshRequest")), op_id="refresh")},
    "/users/logout": {"post": op(
        "End the calling session", {**ok("204", "Logged out."), **errors("401", "403")}, auth=True, op_id="logout")},
    "/users/verify/request": {"post": op(
        "Send a verification link", {**ok("202", "Accepted, whoever owns the email."), **errors(*common)},
        json_body(ref("EmailRequest")), op_id="requestVerify")},
    "/users/verify": {"post": op(
        "Verify an email, or apply an email change", {**ok("200", "The user.", ref("UserRecord")), **errors(*common, "400", "409")},
        json_body(ref("TokenRequest")), op_id="verify")},
    "/users/verify/{token}": {"post": op(
        "Verify an email with the token in the path", {**ok("200", "The user.", ref("UserRecord")), **errors("400", "409", "429")},
        params=[TOKEN_PARAM], op_id="verifyPath")},
    "/users/password-reset/request": {"post": op(
        "Send a password-reset link", {**ok("202", "Accepted, whoever owns the email."), **errors(*common)},
        json_body(ref("EmailRequest")), op_id="requestPasswordReset")},
    "/users/password-reset": {"post": op(
        "Set a new password with a reset token", {**ok("200", "The user; every session ended.", ref("UserRecord")), **errors(*common, "400", "503")},
        json_body(ref("ResetRequest")), op_id="resetPassword")},
    "/users/password-reset/{token}": {"post": op(
        "Set a new password with the token in the path", {**ok("200", "The user; every session ended.", ref("UserRecord")), **errors(*common, "400", "503")},
        json_body(ref("PasswordRequest")), params=[TOKEN_PARAM], op_id="resetPasswordPath")},
    "/users/me": {
        "get": op("The caller's record", {**ok("200", "The caller.", ref("UserRecord")), **errors("401", "403")}, auth=True, op_id="me"),
        "patch": op("Change password, email or custom fields", {**ok("200", "The caller (a new email waits for confirmation).", ref("UserRecord")), **errors(*common, "401", "403", "409", "503")},
                    json_body(ref("MePatch")), auth=True, op_id="updateMe"),
        "delete": op("Delete the caller's account", {**ok("204", "Deleted, with every session."), **errors(*common, "401", "403", "503")},
                     json_body(ref("MeDelete")), auth=True, op_id="deleteMe"),
    },
    "/users": {"get": op(
        "List users (superuser)", {**ok("200", "A page of users.", ref("UserPage")), **errors("401", "403", "422")}, auth=True,
        params=[
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string", "format": "uuid"}},
        ], op_id="listUsers")},
    "/users/{id}": {
        "get": op("A user (superuser)", {**ok("200", "The user.", ref("UserRecord")), **errors("401", "403", "404")}, auth=True, params=[ID_PARAM], op_id="getUser"),
        "patch": op("Change a user (superuser)", {**ok("200", "The user.", ref("UserRecord")), **errors(*common, "401", "403", "404", "409", "503")},
                    json_body(ref("AdminPatch")), auth=True, params=[ID_PARAM], op_id="updateUser"),
        "delete": op("Delete a user (superuser; not oneself)", {**ok("204", "Deleted."), **errors("401", "403", "404")}, auth=True, params=[ID_PARAM], op_id="deleteUser"),
    },
    "/users/openapi.json": {"get": op("This document", ok("200", "The OpenAPI document.", {"type": "object"}), op_id="openapi")},
}

email = {"type": "string", "format": "email", "maxLength": 254}
password = {"type": "string", "minLength": 8, "maxLength": 256}
schemas = {
    "UserRecord": {
        "type": "object",
        "description": "The public user record; the app's custom fields, if any, appear beside these.",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "email": STR,
            "is_active": BOOL, "is_verified": BOOL, "is_superuser": BOOL,
            "created_at": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "email", "is_active", "is_verified", "is_superuser", "created_at"],
    },
    "TokenResponse": obj({
        "access_token": STR, "token_type": {"const": "bearer"}, "expires_in": {"type": "integer"},
        "refresh_token": STR, "user": ref("UserRecord")},
        ["access_token", "token_type", "expires_in", "refresh_token", "user"]),
    "UserPage": obj({"users": {"type": "array", "items": ref("UserRecord")},
                     "next_cursor": {"type": ["string", "null"]}}, ["users", "next_cursor"]),
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details with a stable code.",
        "properties": {
            "type": STR, "title": STR, "status": {"type": "integer"},
            "code": {"type": "string", "enum": [
                "VALIDATION_ERROR", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT", "USER_EXISTS",
                "INVALID_CREDENTIALS", "INACTIVE_USER", "UNVERIFIED_USER", "UNAUTHORIZED", "FORBIDDEN",
                "INVALID_TOKEN", "NOT_FOUND", "METHOD_NOT_ALLOWED", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL"]},
            "errors": {"type": "array", "items": obj({"field": STR, "message": STR}, ["field", "message"])},
        },
        "required": ["type", "title", "status", "code"],
    },
    "RegisterRequest": obj({"email": email, "password": password}, ["email", "password"]),
    "LoginRequest": obj({"email": STR, "password": STR}, ["email", "password"]),
    "LoginForm": obj({"username": STR, "password": STR, "grant_type": STR}, ["username", "password"]),
    "RefreshRequest": obj({"refresh_token": STR}, ["refresh_token"]),
    "EmailRequest": obj({"email": email}, ["email"]),
    "TokenRequest": obj({"token": STR}, ["token"]),
    "ResetRequest": obj({"token": STR, "password": password}, ["token", "password"]),
    "PasswordRequest": obj({"password": password}, ["password"]),
    "MePatch": obj({"current_password": STR, "password": password, "email": email}, ["current_password"]),
    "MeDelete": obj({"current_password": STR}, ["current_password"]),
    "AdminPatch": obj({"is_active": BOOL, "is_verified": BOOL, "is_superuser": BOOL, "email": email, "password": password}),
}

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "tower-users",
        "version": "0.1.0",
        "description": "The user lifecycle: registration, sessions, verification, password reset, account management and administration. Every error is application/problem+json with a stable code.",
    },
    "paths": paths,
    "components": {
        "schemas": schemas,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    },
}

out = pathlib.Path(__file__).resolve().parent.parent / "src" / "http" / "openapi.json"
out.write_text(json.dumps(doc, indent=2) + "\n")
print(f"wrote {out}")
