/*
 * main.c - floq-lineage: the command for lineage consumers (tail, graph,
 * forward). Everything lives in the library (lineage/cli.c), so the tests
 * link the same code this program runs.
 */
#include "lineage_int.h"

int main(int argc, char **argv) {
        return floq_lineage_cli_main(argc, argv);
}
