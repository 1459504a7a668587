#!/usr/bin/env bash
# check-banned.sh — fails when C sources call functions STYLE.md bans (strto* is allowed only in
# apis/base/parse.c). Run by `make lint` and CI.
set -u
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/')
bad=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|atoi|atol|atof|sscanf|gets)\s*\(' $files | grep -vE '^\S+:\s*[0-9]+:\s*(/\*|\*)' )
strto=$(grep -nE '\bstrto(l|ll|ul|ull|d|f|imax|umax)\s*\(' $files | grep -v '^apis/base/parse.c:')
if [ -n "$bad$strto" ]; then
  echo "banned calls (see STYLE.md 'Bounded input'):"
  [ -n "$bad" ] && echo "$bad"
  [ -n "$strto" ] && echo "$strto"
  exit 1
fi
