#!/bin/sh
# A run that succeeds and reports the datasets it read and wrote on stdout
# (the ::openlineage-* lines of docs/lineage.md), near the end of its output.
echo "working"
echo "::openlineage-input  postgres://db:5432 shop.orders"
echo "::openlineage-output s3://lake reports/daily ${1:-x}"
exit 0
