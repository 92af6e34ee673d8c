#include "splat/composite_rows.h"

namespace sc {

SC_TARGET_DISPATCH(RowTables, rows)

}  // namespace sc
