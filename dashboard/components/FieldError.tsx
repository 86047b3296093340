// A problem with one field, in words, right under it; the field points at it (aria-describedby).
import styles from "./editing.module.css";

export function FieldError({ id, text }: { id: string; text: string | null }) {
  if (!text) return null;
  return (
    <p id={id} className={styles.fieldError} role="alert">
      {text}
    </p>
  );
}
