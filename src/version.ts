/** BitRouter's version; the release workflow checks it matches the tag. */
export const VERSION = "0.1.0";
