/*
 * main.c - the `floq` command-line tool: everything lives in
 * producer/cli.c (linked from libfloq) so the tests run the same code.
 */
#include "cli.h"

int main(int argc, char **argv) {
        return floq_cli_main(argc, argv);
}
