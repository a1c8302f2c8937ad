import { loadDataFile } from '../mappings/load.ts';
import { columnMappingSchema, type ColumnMapping } from './column-mapping.ts';

/** Reads a roster column-mapping YAML file (errors name the file and the path inside it). */
export function loadColumnMapping(path: string): ColumnMapping {
  return loadDataFile(columnMappingSchema, path);
}
