#!/usr/bin/env bash
# System packages the test suite needs: Debian's chromium (browser checks, static plot export) and
# chromium-driver (Selenium drives the annotation page in tests/test_annotate_browser.py and the
# reports in tests/test_report_browser.py).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing Debian chromium and chromium-driver for the browser tests ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
