/** A `${VAR}` that had no value and no default. */
export interface UnsetVar {
  name: string;
  /** Offset of the reference inside the scalar. */
  offset: number;
}

/** The result of substituting one scalar. */
export interface Interpolated {
  value: string;
  unset: UnsetVar[];
  changed: boolean;
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Substitutes `${VAR}` and `${VAR:-default}` in one scalar; unset variables without a default become "" and are reported. */
export function interpolate(text: string, env: (name: string) => string | undefined): Interpolated {
  if (!text.includes("${")) return { value: text, unset: [], changed: false };
  const unset: UnsetVar[] = [];
  const value = text.replace(
    REFERENCE,
    (_m, name: string, fallback: string | undefined, offset) => {
      const v = env(name);
      if (v !== undefined && v !== "") return v;
      if (fallback !== undefined) return fallback;
      if (v === undefined) unset.push({ name, offset: offset as number });
      return v ?? "";
    },
  );
  return { value, unset, changed: true };
}
