#include "ockam/error.h"

const char *ockam_strerror(int err) {
  switch (err) {
#define OCKAM_ERR_MSG(name, value, msg) \
  case value:                           \
    return msg;
    OCKAM_ERROR_MAP(OCKAM_ERR_MSG)
#undef OCKAM_ERR_MSG
    default:
      return "unknown error";
  }
}

const char *ockam_errname(int err) {
  switch (err) {
#define OCKAM_ERR_NAME(name, value, msg) \
  case value:                            \
    return "OCKAM_" #name;
    OCKAM_ERROR_MAP(OCKAM_ERR_NAME)
#undef OCKAM_ERR_NAME
    default:
      return "OCKAM_EUNKNOWN";
  }
}
