/** Standard input whole, as text: for small inputs only (a password, a Dockerfile). */
export async function readStdinText(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += chunk.toString();
  return text;
}
