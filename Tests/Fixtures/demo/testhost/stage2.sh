#!/bin/sh
# Demo fixture: the "second stage" a payload downloads and runs.
echo "stage 2 ran" >/dev/null
