/* Creates and destroys a node and prints the version: enough to show that the
 * installed headers and library work. */
#include <ockam/ockam.h>
#include <ockam/version.h>
#include <stdio.h>

int main(void) {
  ockam_node *node;
  int rc = ockam_node_create(&node);
  if (rc) {
    fprintf(stderr, "ockam_node_create: %s\n", ockam_strerror(rc));
    return 1;
  }
  ockam_node_destroy(node);
  printf("consumer linked ockam %s: %s\n", OCKAM_VERSION_STRING, ockam_strerror(OCKAM_ENOTFOUND));
  return 0;
}
