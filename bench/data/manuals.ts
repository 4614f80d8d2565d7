// The retrieval benchmark's evaluation corpus: real technical documentation that
// nobody here wrote and that the platform does not ship with, read at bench time
// from this machine: the READMEs of npm packages pinned by package-lock.json
// (present after `npm ci`) and Debian's manual pages (rendered with `man`).
// Only the list of documents and the questions live here, not the documents' text.
//
// The questions were written from the documents before the ranking was measured
// on them. Each is answered by exactly one document. "worded" questions use the
// document's own terms; "paraphrased" ones ask the way a customer would, in other
// words and without copying a rare term (a package name, an option, a jargon word).
// NEAR_MISSES sit close to the corpus's topics but no document answers them: a
// reply to them should cite nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type ManualDocument = { id: string; title: string; fileType: 'md' | 'txt'; text: string };
export type ManualQuestion = { question: string; answer: string; wording: 'worded' | 'paraphrased' };

/** npm packages whose README is a document (its id is `npm:<name>`). */
const NPM_PACKAGES = (
  'eventemitter3 nth-check env-paths run-parallel hyperid detect-libc reusify csv-parse destr pgpass fast-deep-equal ' +
  'perfect-debounce json-schema-traverse cliui split2 json-parse-even-better-errors parse-filepath ansi-regex mime-types ' +
  'progress minimist chardet internmap immediate pretty-bytes cli-truncate merge2 @repeaterjs/repeater dependency-graph ' +
  'pg-types delayed-stream tslib emoji-regex cross-spawn error-ex css-what brace-expansion rc9 pg ohash foreground-child ' +
  'defu is-windows glob-parent yallist graceful-fs timestring confbox sprintf-js ansi-styles pg-connection-string ' +
  'html-escaper normalize-path fetch-blob entities formdata-polyfill gensync rfdc yargs globby queue-microtask lru-cache ' +
  'pako pglite-prisma-adapter readdirp iconv-lite deepmerge-ts redis-parser exsolve shell-quote escalade delaunator ' +
  '@electric-sql/pglite @mozilla/readability js-tokens convert-source-map whatwg-mimetype fill-range htmlparser2 tinyexec ' +
  'fast-querystring proper-lockfile graphql-tag js-yaml cli-table3 fastq retry classnames jose lru.min ret json5 long ' +
  '@fastify/busboy chalk pure-rand ignore form-data es-module-lexer linkedom @xmldom/xmldom unpdf pg-pool chokidar ollama ' +
  'fast-uri ajv jsesc rate-limiter-flexible ws css-select hdr-histogram-js uuid semver minimatch magic-string ipaddr.js ' +
  'debug dotenv dataloader fflate cosmiconfig tinybench common-tags node-fetch mammoth'
).split(' ');

/** Manual pages, as `page` or `page.section` (id `man:<page>`). */
const MAN_PAGES = (
  'tar grep sed ssh scp gzip chmod date df du ps sort xargs make nm git patch timeout watch dd lsblk ss useradd chage ' +
  'iconv file zstd rename.2 numfmt vmstat hostname journalctl'
).split(' ');

export const MANUAL_QUESTIONS: ManualQuestion[] = [
  // npm READMEs
  { answer: 'npm:eventemitter3', wording: 'worded', question: 'Does EventEmitter3 throw an error when you emit an error event and nobody is listening?' },
  { answer: 'npm:nth-check', wording: 'paraphrased', question: 'How can I test whether a position in a list matches a CSS child-position formula like 2n+1?' },
  { answer: 'npm:env-paths', wording: 'worded', question: 'Does env-paths create the directories for the OS-specific paths it returns?' },
  { answer: 'npm:run-parallel', wording: 'paraphrased', question: 'I have several callback-style functions; how do I start them all at once and collect their results in one final callback?' },
  { answer: 'npm:hyperid', wording: 'worded', question: 'How do I make hyperid generate url safe ids?' },
  { answer: 'npm:detect-libc', wording: 'paraphrased', question: 'How can my program find out which C standard library implementation a Linux system provides?' },
  { answer: 'npm:reusify', wording: 'paraphrased', question: 'Is there a trick to speed up hot functions by recycling objects instead of allocating new ones each call?' },
  { answer: 'npm:csv-parse', wording: 'worded', question: 'Does the csv-parse package implement the Node.js stream.Transform API?' },
  { answer: 'npm:destr', wording: 'paraphrased', question: 'I parse JSON from untrusted request bodies; what library falls back to the original value instead of throwing when the text is not valid?' },
  { answer: 'npm:pgpass', wording: 'worded', question: 'Which environment variable overrides the location of the ~/.pgpass file?' },
  { answer: 'npm:fast-deep-equal', wording: 'worded', question: 'Which fast-deep-equal import also supports Maps, Sets and typed arrays?' },
  { answer: 'npm:perfect-debounce', wording: 'paraphrased', question: 'With a function wrapped so that repeated calls are collapsed into one, how do I drop the waiting invocation or run it immediately?' },
  { answer: 'npm:json-schema-traverse', wording: 'worded', question: 'Are $ref schema references resolved by json-schema-traverse?' },
  { answer: 'npm:cliui', wording: 'paraphrased', question: 'How do I lay out command-line help text in columns with a maximum width?' },
  { answer: 'npm:split2', wording: 'worded', question: 'How do I split a stream so that each line is a chunk, for newline delimited JSON?' },
  { answer: 'npm:json-parse-even-better-errors', wording: 'paraphrased', question: 'Which parser keeps track of the indentation and line ending style of a file so it can be written back the same way?' },
  { answer: 'npm:parse-filepath', wording: 'worded', question: 'What properties does parse-filepath add on top of path.parse, such as stem and isAbsolute?' },
  { answer: 'npm:ansi-regex', wording: 'paraphrased', question: 'What regular expression can I use to strip terminal colour codes out of a string?' },
  { answer: 'npm:mime-types', wording: 'worded', question: 'What does mime.lookup return for an unrecognized extension?' },
  { answer: 'npm:progress', wording: 'paraphrased', question: 'How do I show a bar in the terminal that fills up as my download proceeds?' },
  { answer: 'npm:minimist', wording: 'worded', question: 'Which minimist versions had the prototype pollution bug?' },
  { answer: 'npm:chardet', wording: 'paraphrased', question: 'How can I guess which text encoding a file of unknown origin was saved in?' },
  { answer: 'npm:internmap', wording: 'worded', question: 'Why does a JavaScript Map not work with dates as keys, and what does InternMap do about it?' },
  { answer: 'npm:immediate', wording: 'worded', question: 'Is immediate a microtask or a macrotask library?' },
  { answer: 'npm:pretty-bytes', wording: 'paraphrased', question: 'How do I display a raw byte count as something a person can read, like kilobytes?' },
  { answer: 'npm:cli-truncate', wording: 'worded', question: 'Can cliTruncate truncate a string from the middle instead of the end?' },
  { answer: 'npm:merge2', wording: 'paraphrased', question: 'How do I combine several readable streams into one, either one after another or all at once?' },
  { answer: 'npm:@repeaterjs/repeater', wording: 'worded', question: 'Which globals does the core @repeaterjs/repeater module require?' },
  { answer: 'npm:dependency-graph', wording: 'paraphrased', question: 'How can I work out the order in which to run tasks that depend on other tasks being finished first?' },
  { answer: 'npm:pg-types', wording: 'worded', question: 'How do I make node-postgres return 64-bit integers (int8) as JavaScript integers?' },
  { answer: 'npm:delayed-stream', wording: 'paraphrased', question: 'How do I hold back the data a stream emits until my code is ready to deal with it?' },
  { answer: 'npm:tslib', wording: 'worded', question: 'What does the --importHelpers flag in TypeScript do with tslib?' },
  { answer: 'npm:emoji-regex', wording: 'worded', question: 'How do I update emoji-regex after a new Unicode Standard release?' },
  { answer: 'npm:cross-spawn', wording: 'paraphrased', question: 'Why does launching a child process with arguments containing spaces, or a script starting with a #! line, fail on Windows?' },
  { answer: 'npm:error-ex', wording: 'worded', question: 'How do I create an error type with a specific name using errorEx?' },
  { answer: 'npm:css-what', wording: 'paraphrased', question: 'How do I break a style-sheet selector string into tokens and turn it back into a string?' },
  { answer: 'npm:brace-expansion', wording: 'worded', question: 'What is the default max number of expansions allowed by brace-expansion?' },
  { answer: 'npm:rc9', wording: 'worded', question: 'What does rc9 use to flatten and unflatten values when writing an rcfile?' },
  { answer: 'npm:ohash', wording: 'worded', question: 'Which algorithm and encoding does the ohash digest function use?' },
  { answer: 'npm:foreground-child', wording: 'paraphrased', question: 'How do I run another program as if it were the main process, sharing its input and output and exiting when it exits?' },
  { answer: 'npm:defu', wording: 'paraphrased', question: 'How do I fill in missing settings of an object from a defaults object, deeply, with the leftmost argument winning?' },
  { answer: 'npm:is-windows', wording: 'worded', question: 'Does is-windows work as a UMD module in the browser and with AMD?' },
  { answer: 'npm:glob-parent', wording: 'paraphrased', question: 'Given a wildcard pattern like src/**/*.js, how do I get the fixed folder part before the wildcards start?' },
  { answer: 'npm:yallist', wording: 'worded', question: 'Does yallist offer forEachReverse and getReverse on its doubly-linked list?' },
  { answer: 'npm:graceful-fs', wording: 'paraphrased', question: 'My program crashes with too many open files when reading lots of files at once; is there a drop-in replacement for the file system module that queues and retries?' },
  { answer: 'npm:timestring', wording: 'worded', question: 'What unit does timestring return by default?' },
  { answer: 'npm:confbox', wording: 'worded', question: 'Which parse functions does confbox provide, such as parseTOML and parseINI?' },
  { answer: 'npm:sprintf-js', wording: 'paraphrased', question: 'How do I format a string with numbered placeholders, padding and a forced plus sign, like C printf does?' },
  { answer: 'npm:ansi-styles', wording: 'worded', question: 'Which ansi-styles modifiers are not widely supported, like italic and strikethrough?' },
  { answer: 'npm:pg-connection-string', wording: 'paraphrased', question: 'How do I turn a database URL into host, port, user and password settings, including a Unix socket path?' },
  { answer: 'npm:html-escaper', wording: 'worded', question: 'Does html-escaper throw errors on null or undefined input, and what is html-sloppy-escaper?' },
  { answer: 'npm:normalize-path', wording: 'paraphrased', question: 'How do I convert the backslashes of a Windows file path to forward slashes and drop the trailing one?' },
  { answer: 'npm:fetch-blob', wording: 'worded', question: 'What changed in fetch-blob when updating from version 2 to 3?' },
  { answer: 'npm:entities', wording: 'paraphrased', question: 'What is the quickest library for decoding things like &amp; in markup text, and can it output only ASCII characters?' },
  { answer: 'npm:formdata-polyfill', wording: 'worded', question: 'Why is the old form-data package not spec compatible according to formdata-polyfill?' },
  { answer: 'npm:gensync', wording: 'paraphrased', question: 'How can I write one function that works in both a synchronous and an asynchronous flavour, instead of maintaining two copies of every function?' },
  { answer: 'npm:rfdc', wording: 'worded', question: 'What is the performance cost of the circles option in rfdc?' },
  { answer: 'npm:yargs', wording: 'paraphrased', question: 'How do I build a command-line program with sub-commands, an automatically generated help menu and shell tab completion?' },
  { answer: 'npm:globby', wording: 'worded', question: 'Does globby support negated patterns and .gitignore files?' },
  { answer: 'npm:queue-microtask', wording: 'worded', question: 'What is queueMicrotask and why would one use it instead of process.nextTick?' },
  { answer: 'npm:lru-cache', wording: 'paraphrased', question: 'In the cache of recently used items, what happens when I read an entry that has grown too old?' },
  { answer: 'npm:pako', wording: 'worded', question: 'Are pako results binary equal to zlib?' },
  { answer: 'npm:pglite-prisma-adapter', wording: 'paraphrased', question: 'How do I use the popular TypeScript ORM with an embedded, in-process Postgres that needs no database server?' },
  { answer: 'npm:readdirp', wording: 'worded', question: 'Is readdirp faster than fs.readdir with recursive: true?' },
  { answer: 'npm:iconv-lite', wording: 'paraphrased', question: 'How can I convert text from one character set to another in plain JavaScript without compiling native code?' },
  { answer: 'npm:deepmerge-ts', wording: 'worded', question: 'Does deepmerge-ts support merging Maps and Sets?' },
  { answer: 'npm:redis-parser', wording: 'paraphrased', question: 'Is there a fast parser for the wire protocol of the popular in-memory key-value store, and which callbacks must I give it?' },
  { answer: 'npm:exsolve', wording: 'worded', question: 'What does the preserveSymlinks option of exsolve do?' },
  { answer: 'npm:shell-quote', wording: 'paraphrased', question: 'How do I safely escape a list of arguments so they can be pasted into a terminal command line?' },
  { answer: 'npm:escalade', wording: 'worded', question: "Does escalade look into the sibling directories of parent directories?" },
  { answer: 'npm:delaunator', wording: 'paraphrased', question: 'Which library quickly computes a mesh of triangles connecting a set of 2D points?' },
  { answer: 'npm:@electric-sql/pglite', wording: 'worded', question: 'Does PGlite use a Linux virtual machine to run Postgres in the browser?' },
  { answer: 'npm:@mozilla/readability', wording: 'paraphrased', question: 'How do I extract just the main article content from a cluttered web page, without the menus and ads?' },
  { answer: 'npm:js-tokens', wording: 'worded', question: 'Which token types does js-tokens return from matchToToken?' },
  { answer: 'npm:convert-source-map', wording: 'paraphrased', question: 'How do I read the inline map comment at the end of compiled code and turn it into an object?' },
  { answer: 'npm:whatwg-mimetype', wording: 'worded', question: 'How do I determine the computed MIME type of a resource by sniffing its contents with whatwg-mimetype?' },
  { answer: 'npm:fill-range', wording: 'paraphrased', question: 'How do I produce every number between 1 and 10 counting by twos, or turn that span into a regex?' },
  { answer: 'npm:htmlparser2', wording: 'worded', question: 'Does htmlparser2 follow strict HTML spec compliance, or should I use parse5?' },
  { answer: 'npm:tinyexec', wording: 'paraphrased', question: 'Does the small child process runner throw when a command exits with a non-zero code?' },
  { answer: 'npm:fast-querystring', wording: 'worded', question: 'How does fast-querystring parse repeating keys like foo=bar&foo=baz?' },
  { answer: 'npm:proper-lockfile', wording: 'paraphrased', question: 'How do I stop two processes, possibly on different machines sharing a network drive, from writing the same file at once?' },
  { answer: 'npm:graphql-tag', wording: 'worded', question: 'What does the gql template literal tag parse GraphQL query strings into?' },
  { answer: 'npm:js-yaml', wording: 'worded', question: 'What is the difference between load and loadAll in js-yaml?' },
  { answer: 'npm:cli-table3', wording: 'paraphrased', question: 'How do I print a grid of rows and columns in the terminal with cells spanning several columns?' },
  { answer: 'npm:fastq', wording: 'paraphrased', question: 'How do I run a worker function over jobs with a fixed number running at the same time, and pause or resume the line?' },
  { answer: 'npm:retry', wording: 'worded', question: 'With the default settings of retry, when is the last attempt made for 10 retries with exponential backoff?' },
  { answer: 'npm:classnames', wording: 'paraphrased', question: 'How do I join CSS class names together conditionally in a React component?' },
  { answer: 'npm:jose', wording: 'worded', question: 'Does jose support JSON Web Encryption (JWE) and JSON Web Key Sets (JWKS)?' },
  { answer: 'npm:lru.min', wording: 'worded', question: 'Is lru.min compatible with Bun, Deno and browser environments?' },
  { answer: 'npm:ret', wording: 'worded', question: 'What does the reconstruct function of ret return for a token?' },
  { answer: 'npm:json5', wording: 'paraphrased', question: 'Is there a relaxed JSON flavour that allows comments and trailing commas, meant for hand-written config files rather than machine-to-machine messages?' },
  { answer: 'npm:long', wording: 'paraphrased', question: "How can I do exact arithmetic on very large whole numbers that JavaScript's number type cannot hold precisely, with unsigned support?" },
  { answer: 'npm:@fastify/busboy', wording: 'worded', question: 'Which arguments does the busboy file event receive, such as fieldname, filename and mimeType?' },
  { answer: 'npm:chalk', wording: 'paraphrased', question: 'How do I print coloured and bold text in the terminal from Node, detecting automatically whether colours are supported?' },
  { answer: 'npm:pure-rand', wording: 'worded', question: 'What does pure mean for a pure-rand pseudorandom number generator?' },
  { answer: 'npm:ignore', wording: 'paraphrased', question: "How do I filter a list of file names using the same rules as git's list of files to leave untracked?" },
  { answer: 'npm:form-data', wording: 'worded', question: 'How do I get the boundary of a form with form-data getBoundary?' },
  { answer: 'npm:es-module-lexer', wording: 'paraphrased', question: 'How can I quickly find the import and export statements of a JavaScript file without a full parser?' },
  { answer: 'npm:linkedom', wording: 'worded', question: 'Is linkedom a crawler, and what data structure does it use?' },
  { answer: 'npm:@xmldom/xmldom', wording: 'paraphrased', question: "How do I parse and serialize XML documents in Node, where the browser's built-in XML objects are missing?" },
  { answer: 'npm:unpdf', wording: 'worded', question: 'How do I extract text from a PDF with unpdf?' },
  { answer: 'npm:pg-pool', wording: 'paraphrased', question: 'Can I give the database pool constructor a connection URL directly, or do I need to parse it first?' },
  { answer: 'npm:chokidar', wording: 'worded', question: 'Why use chokidar instead of fs.watch, and does it support atomic writes?' },
  { answer: 'npm:ollama', wording: 'paraphrased', question: "How do I get a language model's answer token by token from a model server running on my own machine, in JavaScript?" },
  { answer: 'npm:fast-uri', wording: 'worded', question: 'Are schemes percent-decoded by fast-uri?' },
  { answer: 'npm:ajv', wording: 'paraphrased', question: 'What is a quick way to check that incoming objects have the shape described in a schema file?' },
  { answer: 'npm:jsesc', wording: 'worded', question: 'How is jsesc different from JSON.stringify, and is its output ASCII-safe?' },
  { answer: 'npm:rate-limiter-flexible', wording: 'paraphrased', question: 'How do I cap the number of requests each client can make per minute and block repeated failed logins?' },
  { answer: 'npm:ws', wording: 'worded', question: 'Does the ws module work in the browser?' },
  { answer: 'npm:css-select', wording: 'paraphrased', question: 'How do I find all elements of a parsed HTML tree that match a style-sheet selector?' },
  { answer: 'npm:hdr-histogram-js', wording: 'worded', question: 'How does HdrHistogramJS deal with coordinated omissions?' },
  { answer: 'npm:uuid', wording: 'paraphrased', question: 'How do I generate a random unique identifier in the standard 36-character format?' },
  { answer: 'npm:semver', wording: 'worded', question: 'What do caret ranges like ^0.2.5 allow in semver?' },
  { answer: 'npm:minimatch', wording: 'paraphrased', question: 'Why might matching file name patterns built from user input freeze my server?' },
  { answer: 'npm:magic-string', wording: 'paraphrased', question: 'How can I make small edits to source code, like replacing a few characters and adding a header, and still get a map back to the original positions?' },
  { answer: 'npm:ipaddr.js', wording: 'worded', question: 'How do I check whether an address matches a CIDR range with ipaddr.js?' },
  { answer: 'npm:debug', wording: 'paraphrased', question: 'How do I switch on diagnostic logging for only some parts of my program through an environment variable, with wildcards?' },
  { answer: 'npm:dotenv', wording: 'worded', question: 'How do I load environment variables from a .env file into process.env?' },
  { answer: 'npm:dataloader', wording: 'paraphrased', question: 'How can I combine the lookups of individual records made during one request into a single database query, and cache the results per request?' },
  { answer: 'npm:fflate', wording: 'worded', question: 'Does fflate support ZIP file archiving, and how much does it add?' },
  { answer: 'npm:cosmiconfig', wording: 'worded', question: 'Which files does cosmiconfig check in the current directory by default?' },
  { answer: 'npm:tinybench', wording: 'paraphrased', question: 'What is a small library to time how fast several functions run and report percentiles and margin of error?' },
  { answer: 'npm:common-tags', wording: 'worded', question: 'What does the safeHtml tag of common-tags do?' },
  { answer: 'npm:node-fetch', wording: 'paraphrased', question: "What are the differences between the server-side port of the browser's request API and the client-side one?" },
  { answer: 'npm:mammoth', wording: 'worded', question: 'How does Mammoth convert a paragraph with the style Heading 1?' },
  // Manual pages
  { answer: 'man:tar', wording: 'worded', question: 'Which tar option filters the archive through gzip?' },
  { answer: 'man:grep', wording: 'paraphrased', question: 'How do I search a bunch of text files for lines containing a word and print only the names of the files?' },
  { answer: 'man:sed', wording: 'worded', question: 'What is a stream editor, and how does sed differ from an editor like ed?' },
  { answer: 'man:ssh', wording: 'paraphrased', question: 'How do I log into a remote server and forward a local port through the encrypted connection?' },
  { answer: 'man:scp', wording: 'worded', question: 'Does scp use the SFTP protocol for data transfer?' },
  { answer: 'man:gzip', wording: 'worded', question: 'Which coding does gzip use to reduce the size of the named files?' },
  { answer: 'man:chmod', wording: 'paraphrased', question: "How do I stop users from deleting other people's files in a shared directory?" },
  { answer: 'man:date', wording: 'worded', question: "How do I display the time described by a string instead of 'now' with date --date?" },
  { answer: 'man:df', wording: 'paraphrased', question: 'How do I see how much free space is left on each mounted disk?' },
  { answer: 'man:du', wording: 'worded', question: 'What does du --apparent-size print?' },
  { answer: 'man:ps', wording: 'paraphrased', question: 'How do I list every running program on the machine with its owner and memory use?' },
  { answer: 'man:sort', wording: 'worded', question: 'What does the --dictionary-order option of sort consider?' },
  { answer: 'man:xargs', wording: 'paraphrased', question: 'How do I take a list of file names from a pipe and run a command on them, several at a time?' },
  { answer: 'man:make', wording: 'worded', question: 'How does parallel make share jobs through the jobserver?' },
  { answer: 'man:nm', wording: 'paraphrased', question: 'How do I list the functions and variables defined inside a compiled object file or library?' },
  { answer: 'man:git', wording: 'worded', question: 'What does git -C <path> do?' },
  { answer: 'man:patch', wording: 'paraphrased', question: 'How do I apply a set of changes, produced by comparing two versions of a file, back onto the original while keeping a backup?' },
  { answer: 'man:timeout', wording: 'worded', question: 'How do I kill a command if it is still running after a duration with timeout?' },
  { answer: 'man:watch', wording: 'paraphrased', question: 'How do I rerun a command every few seconds and see its output refresh on the screen, highlighting what changed?' },
  { answer: 'man:dd', wording: 'worded', question: 'What does status=progress do in dd?' },
  { answer: 'man:lsblk', wording: 'paraphrased', question: 'How do I see all the disks and partitions attached to the machine, shown as a tree?' },
  { answer: 'man:ss', wording: 'worded', question: 'How do I display both listening and non-listening sockets with ss?' },
  { answer: 'man:useradd', wording: 'paraphrased', question: 'What is the low-level command to add a new login account to the system, with a home folder?' },
  { answer: 'man:chage', wording: 'worded', question: 'How do I force a user to change their password with chage --lastday?' },
  { answer: 'man:iconv', wording: 'paraphrased', question: 'From a shell, how do I convert a text file from one character set to another?' },
  { answer: 'man:file', wording: 'worded', question: 'Which three sets of tests does the file command perform, and in what order?' },
  { answer: 'man:zstd', wording: 'paraphrased', question: 'Which compression tool can train a dictionary from sample files so that many small files compress better?' },
  { answer: 'man:rename', wording: 'worded', question: 'What error does rename return when oldpath and newpath are not on the same mounted filesystem?' },
  { answer: 'man:numfmt', wording: 'paraphrased', question: 'How do I turn a raw number like 1500000 into 1.5M from the command line?' },
  { answer: 'man:vmstat', wording: 'worded', question: 'What does the first report produced by vmstat give averages since?' },
  { answer: 'man:hostname', wording: 'paraphrased', question: "How do I show the machine's full network name and all its IP addresses?" },
  { answer: 'man:journalctl', wording: 'worded', question: 'How do I filter journalctl output by a systemd unit?' },
];

/** Questions close to the corpus's topics that no document answers. */
export const NEAR_MISSES: string[] = [
  'How do I configure Kafka consumer group rebalancing in Node?',
  'How do I resize an ext4 partition without losing data?',
  'How do I generate a QR code image from a string in JavaScript?',
  'Which package converts Excel spreadsheets to CSV?',
  'How do I set up two-factor authentication with TOTP codes for my login page?',
  'How do I schedule a cron job to run every night at 2 AM?',
  'How do I send an email with attachments over SMTP from Node?',
  'How do I encrypt a whole disk with LUKS?',
  'How do I resize and crop JPEG photos on the server?',
  'How do I connect to a MongoDB replica set?',
];

function readme(root: string, name: string): string | null {
  const dir = path.join(root, 'node_modules', name);
  if (!existsSync(dir)) return null;
  const file = readdirSync(dir).find((entry) => /^readme\.md$/i.test(entry));
  return file ? readFileSync(path.join(dir, file), 'utf8') : null;
}

function manPage(spec: string): string | null {
  const [page, section] = spec.split('.');
  try {
    // Fixed width, no hyphenation or justification: the same text on every run and no words cut in two.
    const args = ['--nh', '--nj', '-P', 'cat', ...(section ? [section] : []), page];
    const text = execFileSync('man', args, { env: { ...process.env, MANWIDTH: '80', LC_ALL: 'C.UTF-8' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return text.trim() ? text : null;
  } catch {
    return null;
  }
}

/**
 * The documents this machine has, read now; `missing` lists those it lacks (a
 * manual page not installed), whose questions the benchmark leaves out.
 */
export function loadManuals(root: string): { documents: ManualDocument[]; missing: string[] } {
  const documents: ManualDocument[] = [];
  const missing: string[] = [];
  for (const name of NPM_PACKAGES) {
    const text = readme(root, name);
    if (text) documents.push({ id: `npm:${name}`, title: name, fileType: 'md', text });
    else missing.push(`npm:${name}`);
  }
  for (const spec of MAN_PAGES) {
    const page = spec.split('.')[0];
    const text = manPage(spec);
    if (text) documents.push({ id: `man:${page}`, title: `${page} manual`, fileType: 'txt', text });
    else missing.push(`man:${page}`);
  }
  return { documents, missing };
}
