"""Small advisory records of our own, in each source's real format, written from real facts
(Debian OSV / tracker for bookworm, ALAS2, Alpine secdb, CISA KEV)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

CURL = {  # CVE-2023-38545: curl SOCKS5 heap overflow, fixed in bookworm by DSA-5523-1
    "schema_version": "1.6.0",
    "id": "CVE-2023-38545",
    "modified": "2024-12-05T15:35:20.826437Z",
    "published": "2023-10-18T04:15:11Z",
    "aliases": ["CURL-CVE-2023-38545"],
    "related": ["DSA-5523-1"],
    "details": "This flaw makes curl overflow a heap based buffer in the SOCKS5 proxy\n",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {"package": {"ecosystem": "Debian:11", "name": "curl",
                     "purl": "pkg:deb/debian/curl?arch=source"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                      {"fixed": "7.74.0-1.3+deb11u10"}]}],
         "ecosystem_specific": {"urgency": "not yet assigned"}},
        {"package": {"ecosystem": "Debian:12", "name": "curl",
                     "purl": "pkg:deb/debian/curl?arch=source"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                      {"fixed": "7.88.1-10+deb12u4"}]}],
         "ecosystem_specific": {"urgency": "not yet assigned"}},
        {"package": {}, "ranges": [{"type": "GIT", "repo": "https://github.com/curl/curl",
                                    "events": [{"introduced": "0"}, {"fixed": "fb4415d8"}]}]},
    ],
    "references": [{"type": "ADVISORY",
                    "url": "https://security-tracker.debian.org/tracker/CVE-2023-38545"}],
}

WEBP = {  # CVE-2023-4863: libwebp heap overflow, in CISA KEV since 2023-09-13
    "id": "CVE-2023-4863", "modified": "2025-02-03T17:02:08.596953Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "libwebp"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"}, {"fixed": "1.2.4-0.2+deb12u1"}]}],
                  "ecosystem_specific": {"urgency": "not yet assigned"}}],
}

POSTGRES = {  # CVE-2019-3466: postgresql-common, fixed in 210 (bookworm ships 248+deb12u1)
    "id": "CVE-2019-3466", "modified": "2024-12-05T14:00:05Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "postgresql-common"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "210"}]}]}],
}

BASH = {  # CVE-2022-3715: bash, fixed in 5.2-1 (bookworm: source 5.2.15-2, binNMU +b2)
    "id": "CVE-2022-3715", "modified": "2025-01-14T11:05:41.837109Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "5.2-1"}]}]}],
}

KERNEL = {  # CVE-2024-26581: linux, fixed in bookworm's 6.1.82-1
    "id": "CVE-2024-26581", "modified": "2025-01-14T12:12:58.264720Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "linux"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "6.1.82-1"}]}]}],
}

SHADOW = {  # CVE-2023-29383: shadow, no fix in bookworm (OSV: introduced 0, no fixed)
    "id": "CVE-2023-29383", "modified": "2025-02-06T23:51:25.197609Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:L/A:N"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "shadow"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                  "ecosystem_specific": {"urgency": "not yet assigned"}}],
}

WITHDRAWN = {"id": "GHSA-xxxx-withdrawn", "modified": "2024-01-01T00:00:00Z",
             "withdrawn": "2024-01-02T00:00:00Z", "affected": []}

#: the Debian security tracker's JSON shape (source package -> CVE -> releases)
TRACKER: dict[str, Any] = {
    "shadow": {"CVE-2023-29383": {"description": "shadow chfn control characters",
                                  "scope": "local", "releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "1:4.13+dfsg1-1"},
                     "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"}}}},
    "tiff": {"CVE-2023-6277": {"releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "4.5.0-6+deb12u1"},
                     "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "ignored"}}}},
    "vim": {"CVE-2023-48231": {"releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "2:9.0.1378-2"},
                     "urgency": "unimportant"}}}},
    "glibc": {"CVE-2010-4756": {"releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "2.36-9+deb12u4"},
                     "urgency": "unimportant"}}},
              "CVE-2023-4911": {"releases": {
        "bookworm": {"status": "resolved", "repositories": {"bookworm": "2.36-9+deb12u4"},
                     "fixed_version": "2.36-9+deb12u3", "urgency": "not yet assigned"}}}},
    "openssl": {"CVE-2024-2511": {"releases": {
        "bookworm": {"status": "open", "repositories": {"bookworm": "3.0.11-1~deb12u2"},
                     "urgency": "low", "nodsa": "Minor issue"}}}},
    "curl": {"CVE-2023-38546": {"releases": {
        "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "not yet assigned",
                     "repositories": {"bookworm": "7.88.1-10+deb12u4"}}}},
             "CVE-2024-2398": {"releases": {
        "bookworm": {"status": "open", "urgency": "not yet assigned",
                     "repositories": {"bookworm": "7.88.1-10+deb12u5"}},
        "sid": {"status": "resolved", "fixed_version": "8.7.1-1", "urgency": "medium"}}}},
}

ALAS2 = {  # ALAS2-2023-2000: gstreamer1-plugins-base, CVE-2021-3522
    "ID": "ALAS2-2023-2000", "Status": "final", "Type": "security", "Severity": "medium",
    "Title": "Amazon Linux 2 2017.12 - ALAS2-2023-2000: medium priority package update for "
             "gstreamer1-plugins-base",
    "Issued": {"Date": "2023-03-17 16:35:00"}, "Updated": {"Date": "2023-03-21 23:25:00"},
    "References": {"Reference": [{
        "Href": "http://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2021-3522",
        "ID": "CVE-2021-3522", "Title": "", "Type": "cve"}]},
    "Pkglist": {"Collection": {"Short": "amazon-linux-2", "Name": "Amazon Linux 2", "Package": [
        {"Arch": "x86_64", "Epoch": "0", "Name": "gstreamer1-plugins-base",
         "Release": "2.amzn2.0.3", "Version": "1.10.4"},
        {"Arch": "i686", "Epoch": "0", "Name": "gstreamer1-plugins-base",
         "Release": "2.amzn2.0.3", "Version": "1.10.4"},
        {"Arch": "x86_64", "Epoch": "0", "Name": "gstreamer1-plugins-base-tools",
         "Release": "2.amzn2.0.3", "Version": "1.10.4"}]}},
}

SECDB = {  # Alpine v3.19 main: aom secfixes
    "distroversion": "v3.19", "reponame": "main", "urlprefix": "https://dl-cdn.alpinelinux.org",
    "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}.apk",
    "archs": ["x86_64"],
    "packages": [
        {"pkg": {"name": "aom", "secfixes": {
            "3.1.1-r0": ["CVE-2021-30473", "CVE-2021-30474", "CVE-2021-30475"]}}},
        {"pkg": {"name": "busybox", "secfixes": {
            "0": ["CVE-2021-28831"], "1.36.1-r6": ["CVE-2023-42363 GHSA-xxxx"]}}},
    ],
}

KEV = {"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.08.25",
       "dateReleased": "2025-08-25T17:00:00.0000Z", "count": 1, "vulnerabilities": [
           {"cveID": "CVE-2023-4863", "vendorProject": "Google", "product": "Chromium WebP",
            "vulnerabilityName": "Google Chromium WebP Heap-Based Buffer Overflow "
                                 "Vulnerability",
            "dateAdded": "2023-09-13", "dueDate": "2023-10-04",
            "knownRansomwareCampaignUse": "Unknown"}]}

OSV_RECORDS: list[dict[str, Any]] = [CURL, WEBP, POSTGRES, BASH, KERNEL, SHADOW]


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def osv_zip(path: Path, records: list[dict[str, Any]]) -> Path:
    """A zip laid out as osv.dev publishes an ecosystem (one record per member)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for r in records:
            z.writestr(f"{r['id']}.json", json.dumps(r))
    return path
