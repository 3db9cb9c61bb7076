/* Placeholder translation unit for a layer without sources. */
typedef int ockami_empty_unit;
