/*
 * MIME type lookup for the static file handler (iis-modules.md 2.3).
 *
 * Sections are immutable and live as long as their configuration, so an
 * index built from a section stays valid until wasp_mime_reset().  Two maps:
 *
 *   section pointer → index   one entry per effective section the worker hands
 *                             out (per site/URL directory), built on first use;
 *   index list                one index per distinct list of mimeMap items,
 *                             found by a fingerprint of the item pointers, so
 *                             the thousand directories that inherit the server
 *                             list share one 378-entry table.
 *
 * Each index is an open-addressing hash table of lower-cased extensions with
 * load factor <= 1/2.  The worker is single-threaded (module.h), so no locks.
 */
#include "modules/mime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The stock IIS 10 applicationHost.config mimeMap list (iis-modules.md 2.3),
 * used when no staticContent section exists anywhere in the configuration. */
static const struct {
    const char *ext;
    const char *type;
} mime_stock[] = {
    {".323", "text/h323"},
    {".3g2", "video/3gpp2"},
    {".3gp2", "video/3gpp2"},
    {".3gp", "video/3gpp"},
    {".3gpp", "video/3gpp"},
    {".aaf", "application/octet-stream"},
    {".aac", "audio/aac"},
    {".aca", "application/octet-stream"},
    {".accdb", "application/msaccess"},
    {".accde", "application/msaccess"},
    {".accdt", "application/msaccess"},
    {".acx", "application/internet-property-stream"},
    {".adt", "audio/vnd.dlna.adts"},
    {".adts", "audio/vnd.dlna.adts"},
    {".afm", "application/octet-stream"},
    {".ai", "application/postscript"},
    {".aif", "audio/x-aiff"},
    {".aifc", "audio/aiff"},
    {".aiff", "audio/aiff"},
    {".appcache", "text/cache-manifest"},
    {".application", "application/x-ms-application"},
    {".art", "image/x-jg"},
    {".asd", "application/octet-stream"},
    {".asf", "video/x-ms-asf"},
    {".asi", "application/octet-stream"},
    {".asm", "text/plain"},
    {".asr", "video/x-ms-asf"},
    {".asx", "video/x-ms-asf"},
    {".atom", "application/atom+xml"},
    {".au", "audio/basic"},
    {".avi", "video/avi"},
    {".axs", "application/olescript"},
    {".bas", "text/plain"},
    {".bcpio", "application/x-bcpio"},
    {".bin", "application/octet-stream"},
    {".bmp", "image/bmp"},
    {".c", "text/plain"},
    {".cab", "application/vnd.ms-cab-compressed"},
    {".calx", "application/vnd.ms-office.calx"},
    {".cat", "application/vnd.ms-pki.seccat"},
    {".cdf", "application/x-cdf"},
    {".chm", "application/octet-stream"},
    {".class", "application/x-java-applet"},
    {".clp", "application/x-msclip"},
    {".cmx", "image/x-cmx"},
    {".cnf", "text/plain"},
    {".cod", "image/cis-cod"},
    {".cpio", "application/x-cpio"},
    {".cpp", "text/plain"},
    {".crd", "application/x-mscardfile"},
    {".crl", "application/pkix-crl"},
    {".crt", "application/x-x509-ca-cert"},
    {".csh", "application/x-csh"},
    {".css", "text/css"},
    {".csv", "application/octet-stream"},
    {".cur", "application/octet-stream"},
    {".dcr", "application/x-director"},
    {".deploy", "application/octet-stream"},
    {".der", "application/x-x509-ca-cert"},
    {".dib", "image/bmp"},
    {".dir", "application/x-director"},
    {".disco", "text/xml"},
    {".dll", "application/x-msdownload"},
    {".dll.config", "text/xml"},
    {".dlm", "text/dlm"},
    {".doc", "application/msword"},
    {".docm", "application/vnd.ms-word.document.macroEnabled.12"},
    {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {".dot", "application/msword"},
    {".dotm", "application/vnd.ms-word.template.macroEnabled.12"},
    {".dotx", "application/vnd.openxmlformats-officedocument.wordprocessingml.template"},
    {".dsp", "application/octet-stream"},
    {".dtd", "text/xml"},
    {".dvi", "application/x-dvi"},
    {".dvr-ms", "video/x-ms-dvr"},
    {".dwf", "drawing/x-dwf"},
    {".dwp", "application/octet-stream"},
    {".dxr", "application/x-director"},
    {".eml", "message/rfc822"},
    {".emz", "application/octet-stream"},
    {".eot", "application/vnd.ms-fontobject"},
    {".eps", "application/postscript"},
    {".esd", "application/vnd.ms-cab-compressed"},
    {".etx", "text/x-setext"},
    {".evy", "application/envoy"},
    {".exe", "application/octet-stream"},
    {".exe.config", "text/xml"},
    {".fdf", "application/vnd.fdf"},
    {".fif", "application/fractals"},
    {".fla", "application/octet-stream"},
    {".flr", "x-world/x-vrml"},
    {".flv", "video/x-flv"},
    {".gif", "image/gif"},
    {".glb", "model/gltf-binary"},
    {".gtar", "application/x-gtar"},
    {".gz", "application/x-gzip"},
    {".h", "text/plain"},
    {".hdf", "application/x-hdf"},
    {".hdml", "text/x-hdml"},
    {".hhc", "application/x-oleobject"},
    {".hhk", "application/octet-stream"},
    {".hhp", "application/octet-stream"},
    {".hlp", "application/winhlp"},
    {".hqx", "application/mac-binhex40"},
    {".hta", "application/hta"},
    {".htc", "text/x-component"},
    {".htm", "text/html"},
    {".html", "text/html"},
    {".htt", "text/webviewhtml"},
    {".hxt", "text/html"},
    {".ico", "image/x-icon"},
    {".ics", "text/calendar"},
    {".ief", "image/ief"},
    {".iii", "application/x-iphone"},
    {".inf", "application/octet-stream"},
    {".ins", "application/x-internet-signup"},
    {".isp", "application/x-internet-signup"},
    {".IVF", "video/x-ivf"},
    {".jar", "application/java-archive"},
    {".java", "application/octet-stream"},
    {".jck", "application/liquidmotion"},
    {".jcz", "application/liquidmotion"},
    {".jfif", "image/pjpeg"},
    {".jpb", "application/octet-stream"},
    {".jpe", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".jpg", "image/jpeg"},
    {".js", "application/javascript"},
    {".json", "application/json"},
    {".jsonld", "application/ld+json"},
    {".jsx", "text/jscript"},
    {".latex", "application/x-latex"},
    {".less", "text/css"},
    {".lit", "application/x-ms-reader"},
    {".lpk", "application/octet-stream"},
    {".lsf", "video/x-la-asf"},
    {".lsx", "video/x-la-asf"},
    {".lzh", "application/octet-stream"},
    {".m13", "application/x-msmediaview"},
    {".m14", "application/x-msmediaview"},
    {".m1v", "video/mpeg"},
    {".m2ts", "video/vnd.dlna.mpeg-tts"},
    {".m3u", "audio/x-mpegurl"},
    {".m4a", "audio/mp4"},
    {".m4v", "video/mp4"},
    {".man", "application/x-troff-man"},
    {".manifest", "application/x-ms-manifest"},
    {".map", "text/plain"},
    {".mdb", "application/x-msaccess"},
    {".mdp", "application/octet-stream"},
    {".me", "application/x-troff-me"},
    {".mht", "message/rfc822"},
    {".mhtml", "message/rfc822"},
    {".mid", "audio/mid"},
    {".midi", "audio/mid"},
    {".mix", "application/octet-stream"},
    {".mmf", "application/x-smaf"},
    {".mno", "text/xml"},
    {".mny", "application/x-msmoney"},
    {".mov", "video/quicktime"},
    {".movie", "video/x-sgi-movie"},
    {".mp2", "video/mpeg"},
    {".mp3", "audio/mpeg"},
    {".mp4", "video/mp4"},
    {".mp4v", "video/mp4"},
    {".mpa", "video/mpeg"},
    {".mpe", "video/mpeg"},
    {".mpeg", "video/mpeg"},
    {".mpg", "video/mpeg"},
    {".mpp", "application/vnd.ms-project"},
    {".mpv2", "video/mpeg"},
    {".ms", "application/x-troff-ms"},
    {".msi", "application/octet-stream"},
    {".mso", "application/octet-stream"},
    {".mvb", "application/x-msmediaview"},
    {".mvc", "application/x-miva-compiled"},
    {".nc", "application/x-netcdf"},
    {".nsc", "video/x-ms-asf"},
    {".nws", "message/rfc822"},
    {".ocx", "application/octet-stream"},
    {".oda", "application/oda"},
    {".odc", "text/x-ms-odc"},
    {".ods", "application/oleobject"},
    {".oga", "audio/ogg"},
    {".ogg", "video/ogg"},
    {".ogv", "video/ogg"},
    {".one", "application/onenote"},
    {".onea", "application/onenote"},
    {".onetoc", "application/onenote"},
    {".onetoc2", "application/onenote"},
    {".onetmp", "application/onenote"},
    {".onepkg", "application/onenote"},
    {".osdx", "application/opensearchdescription+xml"},
    {".otf", "font/otf"},
    {".p10", "application/pkcs10"},
    {".p12", "application/x-pkcs12"},
    {".p7b", "application/x-pkcs7-certificates"},
    {".p7c", "application/pkcs7-mime"},
    {".p7m", "application/pkcs7-mime"},
    {".p7r", "application/x-pkcs7-certreqresp"},
    {".p7s", "application/pkcs7-signature"},
    {".pbm", "image/x-portable-bitmap"},
    {".pcx", "application/octet-stream"},
    {".pcz", "application/octet-stream"},
    {".pdf", "application/pdf"},
    {".pfb", "application/octet-stream"},
    {".pfm", "application/octet-stream"},
    {".pfx", "application/x-pkcs12"},
    {".pgm", "image/x-portable-graymap"},
    {".pko", "application/vnd.ms-pki.pko"},
    {".pma", "application/x-perfmon"},
    {".pmc", "application/x-perfmon"},
    {".pml", "application/x-perfmon"},
    {".pmr", "application/x-perfmon"},
    {".pmw", "application/x-perfmon"},
    {".png", "image/png"},
    {".pnm", "image/x-portable-anymap"},
    {".pnz", "image/png"},
    {".pot", "application/vnd.ms-powerpoint"},
    {".potm", "application/vnd.ms-powerpoint.template.macroEnabled.12"},
    {".potx", "application/vnd.openxmlformats-officedocument.presentationml.template"},
    {".ppam", "application/vnd.ms-powerpoint.addin.macroEnabled.12"},
    {".ppm", "image/x-portable-pixmap"},
    {".pps", "application/vnd.ms-powerpoint"},
    {".ppsm", "application/vnd.ms-powerpoint.slideshow.macroEnabled.12"},
    {".ppsx", "application/vnd.openxmlformats-officedocument.presentationml.slideshow"},
    {".ppt", "application/vnd.ms-powerpoint"},
    {".pptm", "application/vnd.ms-powerpoint.presentation.macroEnabled.12"},
    {".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {".prf", "application/pics-rules"},
    {".prm", "application/octet-stream"},
    {".prx", "application/octet-stream"},
    {".ps", "application/postscript"},
    {".psd", "application/octet-stream"},
    {".psm", "application/octet-stream"},
    {".psp", "application/octet-stream"},
    {".pub", "application/x-mspublisher"},
    {".qt", "video/quicktime"},
    {".qtl", "application/x-quicktimeplayer"},
    {".qxd", "application/octet-stream"},
    {".ra", "audio/x-pn-realaudio"},
    {".ram", "audio/x-pn-realaudio"},
    {".rar", "application/octet-stream"},
    {".ras", "image/x-cmu-raster"},
    {".rf", "image/vnd.rn-realflash"},
    {".rgb", "image/x-rgb"},
    {".rm", "application/vnd.rn-realmedia"},
    {".rmi", "audio/mid"},
    {".roff", "application/x-troff"},
    {".rpm", "audio/x-pn-realaudio-plugin"},
    {".rtf", "application/rtf"},
    {".rtx", "text/richtext"},
    {".scd", "application/x-msschedule"},
    {".sct", "text/scriptlet"},
    {".sea", "application/octet-stream"},
    {".setpay", "application/set-payment-initiation"},
    {".setreg", "application/set-registration-initiation"},
    {".sgml", "text/sgml"},
    {".sh", "application/x-sh"},
    {".shar", "application/x-shar"},
    {".sit", "application/x-stuffit"},
    {".sldm", "application/vnd.ms-powerpoint.slide.macroEnabled.12"},
    {".sldx", "application/vnd.openxmlformats-officedocument.presentationml.slide"},
    {".smd", "audio/x-smd"},
    {".smi", "application/octet-stream"},
    {".smx", "audio/x-smd"},
    {".smz", "audio/x-smd"},
    {".snd", "audio/basic"},
    {".snp", "application/octet-stream"},
    {".spc", "application/x-pkcs7-certificates"},
    {".spl", "application/futuresplash"},
    {".spx", "audio/ogg"},
    {".src", "application/x-wais-source"},
    {".ssm", "application/streamingmedia"},
    {".sst", "application/vnd.ms-pki.certstore"},
    {".stl", "application/vnd.ms-pki.stl"},
    {".sv4cpio", "application/x-sv4cpio"},
    {".sv4crc", "application/x-sv4crc"},
    {".svg", "image/svg+xml"},
    {".svgz", "image/svg+xml"},
    {".swf", "application/x-shockwave-flash"},
    {".t", "application/x-troff"},
    {".tar", "application/x-tar"},
    {".tcl", "application/x-tcl"},
    {".tex", "application/x-tex"},
    {".texi", "application/x-texinfo"},
    {".texinfo", "application/x-texinfo"},
    {".tgz", "application/x-compressed"},
    {".thmx", "application/vnd.ms-officetheme"},
    {".thn", "application/octet-stream"},
    {".tif", "image/tiff"},
    {".tiff", "image/tiff"},
    {".toc", "application/octet-stream"},
    {".tr", "application/x-troff"},
    {".trm", "application/x-msterminal"},
    {".ts", "video/vnd.dlna.mpeg-tts"},
    {".tsv", "text/tab-separated-values"},
    {".ttf", "application/octet-stream"},
    {".tts", "video/vnd.dlna.mpeg-tts"},
    {".txt", "text/plain"},
    {".u32", "application/octet-stream"},
    {".uls", "text/iuls"},
    {".ustar", "application/x-ustar"},
    {".vbs", "text/vbscript"},
    {".vcf", "text/x-vcard"},
    {".vcs", "text/plain"},
    {".vdx", "application/vnd.ms-visio.viewer"},
    {".vml", "text/xml"},
    {".vsd", "application/vnd.visio"},
    {".vss", "application/vnd.visio"},
    {".vst", "application/vnd.visio"},
    {".vsto", "application/x-ms-vsto"},
    {".vsw", "application/vnd.visio"},
    {".vsx", "application/vnd.visio"},
    {".vtx", "application/vnd.visio"},
    {".wasm", "application/wasm"},
    {".wav", "audio/wav"},
    {".wax", "audio/x-ms-wax"},
    {".wbmp", "image/vnd.wap.wbmp"},
    {".wcm", "application/vnd.ms-works"},
    {".wdb", "application/vnd.ms-works"},
    {".webm", "video/webm"},
    {".wks", "application/vnd.ms-works"},
    {".wm", "video/x-ms-wm"},
    {".wma", "audio/x-ms-wma"},
    {".wmd", "application/x-ms-wmd"},
    {".wmf", "application/x-msmetafile"},
    {".wml", "text/vnd.wap.wml"},
    {".wmlc", "application/vnd.wap.wmlc"},
    {".wmls", "text/vnd.wap.wmlscript"},
    {".wmlsc", "application/vnd.wap.wmlscriptc"},
    {".wmp", "video/x-ms-wmp"},
    {".wmv", "video/x-ms-wmv"},
    {".wmx", "video/x-ms-wmx"},
    {".wmz", "application/x-ms-wmz"},
    {".woff", "font/x-woff"},
    {".woff2", "application/font-woff2"},
    {".wps", "application/vnd.ms-works"},
    {".wri", "application/x-mswrite"},
    {".wrl", "x-world/x-vrml"},
    {".wrz", "x-world/x-vrml"},
    {".wsdl", "text/xml"},
    {".wtv", "video/x-ms-wtv"},
    {".wvx", "video/x-ms-wvx"},
    {".x", "application/directx"},
    {".xaf", "x-world/x-vrml"},
    {".xaml", "application/xaml+xml"},
    {".xap", "application/x-silverlight-app"},
    {".xbap", "application/x-ms-xbap"},
    {".xbm", "image/x-xbitmap"},
    {".xdr", "text/plain"},
    {".xht", "application/xhtml+xml"},
    {".xhtml", "application/xhtml+xml"},
    {".xla", "application/vnd.ms-excel"},
    {".xlam", "application/vnd.ms-excel.addin.macroEnabled.12"},
    {".xlc", "application/vnd.ms-excel"},
    {".xlm", "application/vnd.ms-excel"},
    {".xls", "application/vnd.ms-excel"},
    {".xlsb", "application/vnd.ms-excel.sheet.binary.macroEnabled.12"},
    {".xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"},
    {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {".xlt", "application/vnd.ms-excel"},
    {".xltm", "application/vnd.ms-excel.template.macroEnabled.12"},
    {".xltx", "application/vnd.openxmlformats-officedocument.spreadsheetml.template"},
    {".xlw", "application/vnd.ms-excel"},
    {".xml", "text/xml"},
    {".xof", "x-world/x-vrml"},
    {".xpm", "image/x-xpixmap"},
    {".xps", "application/vnd.ms-xpsdocument"},
    {".xsd", "text/xml"},
    {".xsf", "text/xml"},
    {".xsl", "text/xml"},
    {".xslt", "text/xml"},
    {".xsn", "application/octet-stream"},
    {".xtp", "application/octet-stream"},
    {".xwd", "image/x-xwindowdump"},
    {".z", "application/x-compress"},
    {".zip", "application/x-zip-compressed"},
};

typedef struct mime_slot {
    char *ext;          /* lower-cased, with the leading '.'; NULL = empty slot */
    size_t ext_len;
    const char *type;
    uint32_t hash;
} mime_slot_t;

typedef struct mime_index {
    struct mime_index *next;          /* list of every index              */
    uint64_t fingerprint;             /* over the item pointers           */
    size_t item_count;
    const wasp_section_t **items;     /* identity of the list it indexes  */
    mime_slot_t *slots;
    size_t mask;                      /* slot count - 1 (power of two)    */
    size_t max_ext_len;               /* longer suffixes cannot match     */
} mime_index_t;

typedef struct mime_section_ref {
    const wasp_section_t *section;    /* NULL = empty                     */
    mime_index_t *index;
} mime_section_ref_t;

static mime_index_t *mime_indexes;      /* every index built from a section */
static mime_index_t *mime_stock_index;  /* the built-in list                */
static mime_section_ref_t *mime_refs;   /* section pointer → index          */
static size_t mime_ref_mask;            /* capacity - 1, or 0 when none     */
static size_t mime_ref_count;

static inline unsigned char mime_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* FNV-1a over the lower-cased bytes. */
static uint32_t mime_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= mime_lower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static bool mime_ext_equal(const char *lower, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)lower[i] != mime_lower((unsigned char)s[i]))
            return false;
    return true;
}

static void mime_index_free(mime_index_t *idx)
{
    if (idx == NULL)
        return;
    for (size_t i = 0; idx->slots != NULL && i <= idx->mask; i++)
        free(idx->slots[i].ext);
    free(idx->slots);
    free(idx->items);
    free(idx);
}

static mime_index_t *mime_index_new(size_t count)
{
    mime_index_t *idx = calloc(1, sizeof(*idx));
    if (idx == NULL)
        return NULL;
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    idx->slots = calloc(cap, sizeof(*idx->slots));
    if (idx->slots == NULL) {
        free(idx);
        return NULL;
    }
    idx->mask = cap - 1;
    return idx;
}

static const char *mime_index_find(const mime_index_t *idx, const char *ext, size_t len)
{
    if (len > idx->max_ext_len)
        return NULL;
    uint32_t h = mime_hash(ext, len);
    for (size_t i = h & idx->mask;; i = (i + 1) & idx->mask) {
        const mime_slot_t *s = &idx->slots[i];
        if (s->ext == NULL)
            return NULL;
        if (s->hash == h && s->ext_len == len && mime_ext_equal(s->ext, ext, len))
            return s->type;
    }
}

/* Add one mapping; the first of two entries that differ only in case wins.
 * An extension written without its leading dot ("txt") means ".txt".
 * Returns -1 on allocation failure. */
static int mime_index_add(mime_index_t *idx, const char *ext, const char *type)
{
    if (ext == NULL || type == NULL || ext[0] == '\0' || type[0] == '\0')
        return 0; /* not a usable entry: the config layer reports it */
    bool dot = ext[0] == '.';
    size_t len = strlen(ext) + (dot ? 0 : 1);
    char *lower = malloc(len + 1);
    if (lower == NULL)
        return -1;
    lower[0] = '.';
    for (size_t i = dot ? 0 : 1, j = 0; i < len; i++, j++)
        lower[i] = (char)mime_lower((unsigned char)ext[j]);
    lower[len] = '\0';

    uint32_t h = mime_hash(lower, len);
    size_t i = h & idx->mask;
    for (; idx->slots[i].ext != NULL; i = (i + 1) & idx->mask) {
        if (idx->slots[i].hash == h && idx->slots[i].ext_len == len &&
            memcmp(idx->slots[i].ext, lower, len) == 0) {
            free(lower);
            return 0;
        }
    }
    idx->slots[i] = (mime_slot_t){lower, len, type, h};
    if (len > idx->max_ext_len)
        idx->max_ext_len = len;
    return 0;
}

static const mime_index_t *mime_stock_get(void)
{
    if (mime_stock_index != NULL)
        return mime_stock_index;
    size_t n = sizeof(mime_stock) / sizeof(mime_stock[0]);
    mime_index_t *idx = mime_index_new(n);
    if (idx == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (mime_index_add(idx, mime_stock[i].ext, mime_stock[i].type) != 0) {
            mime_index_free(idx);
            return NULL;
        }
    }
    mime_stock_index = idx;
    return idx;
}

/* The index for a list of items: an existing one with the same item
 * pointers, or a new one. */
static mime_index_t *mime_index_for_items(const wasp_section_t *sc)
{
    size_t n = wasp_section_item_count(sc);
    const wasp_section_t **items = malloc((n ? n : 1) * sizeof(*items));
    if (items == NULL)
        return NULL;
    uint64_t fp = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        items[i] = wasp_section_item(sc, i);
        fp = (fp ^ (uint64_t)(uintptr_t)items[i]) * 1099511628211ull;
    }
    for (mime_index_t *idx = mime_indexes; idx != NULL; idx = idx->next) {
        if (idx->fingerprint == fp && idx->item_count == n &&
            (n == 0 || memcmp(idx->items, items, n * sizeof(*items)) == 0)) {
            free(items);
            return idx;
        }
    }

    mime_index_t *idx = mime_index_new(n);
    if (idx == NULL) {
        free(items);
        return NULL;
    }
    idx->fingerprint = fp;
    idx->item_count = n;
    idx->items = items;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        if (mime_index_add(idx, wasp_section_attr(items[i], "fileExtension"),
                           wasp_section_attr(items[i], "mimeType")) != 0) {
            mime_index_free(idx);
            return NULL;
        }
    }
    idx->next = mime_indexes;
    mime_indexes = idx;
    return idx;
}

static size_t mime_ref_slot(const wasp_section_t *sc)
{
    uint64_t h = (uint64_t)(uintptr_t)sc * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & mime_ref_mask;
}

static int mime_refs_grow(void)
{
    size_t cap = mime_ref_mask ? (mime_ref_mask + 1) * 2 : 64;
    mime_section_ref_t *old = mime_refs;
    size_t old_cap = mime_ref_mask ? mime_ref_mask + 1 : 0;
    mime_section_ref_t *refs = calloc(cap, sizeof(*refs));
    if (refs == NULL)
        return -1;
    mime_refs = refs;
    mime_ref_mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].section == NULL)
            continue;
        size_t j = mime_ref_slot(old[i].section);
        while (mime_refs[j].section != NULL)
            j = (j + 1) & mime_ref_mask;
        mime_refs[j] = old[i];
    }
    free(old);
    return 0;
}

static const mime_index_t *mime_index_for_section(const wasp_section_t *sc)
{
    if (mime_ref_mask != 0) {
        for (size_t i = mime_ref_slot(sc); mime_refs[i].section != NULL;
             i = (i + 1) & mime_ref_mask)
            if (mime_refs[i].section == sc)
                return mime_refs[i].index;
    }

    mime_index_t *idx = mime_index_for_items(sc);
    if (idx == NULL)
        return NULL;
    /* Keep the load factor <= 1/2. */
    if ((mime_ref_count + 1) * 2 > (mime_ref_mask ? mime_ref_mask + 1 : 0) &&
        mime_refs_grow() != 0)
        return idx; /* still answer; the next lookup retries the cache */
    size_t i = mime_ref_slot(sc);
    while (mime_refs[i].section != NULL)
        i = (i + 1) & mime_ref_mask;
    mime_refs[i] = (mime_section_ref_t){sc, idx};
    mime_ref_count++;
    return idx;
}

const char *wasp_mime_lookup(const wasp_section_t *static_content, const char *file_name)
{
    if (file_name == NULL)
        return NULL;
    const mime_index_t *idx =
        static_content ? mime_index_for_section(static_content) : mime_stock_get();
    if (idx == NULL)
        return NULL; /* out of memory: unknown type, the request gets 404.3 */

    const char *name = strrchr(file_name, '/');
    name = name ? name + 1 : file_name;
    size_t name_len = strlen(name);

    /* The leftmost '.' gives the longest suffix: try suffixes longest first. */
    const char *dot = memchr(name, '.', name_len);
    for (const char *p = dot; p != NULL; p = strchr(p + 1, '.')) {
        const char *type = mime_index_find(idx, p, name_len - (size_t)(p - name));
        if (type != NULL)
            return type;
    }
    /* IIS conventions: "." maps extension-less names, ".*" everything else. */
    if (dot == NULL) {
        const char *type = mime_index_find(idx, ".", 1);
        if (type != NULL)
            return type;
    }
    return mime_index_find(idx, ".*", 2);
}

void wasp_mime_reset(void)
{
    while (mime_indexes != NULL) {
        mime_index_t *next = mime_indexes->next;
        mime_index_free(mime_indexes);
        mime_indexes = next;
    }
    mime_index_free(mime_stock_index);
    mime_stock_index = NULL;
    free(mime_refs);
    mime_refs = NULL;
    mime_ref_mask = 0;
    mime_ref_count = 0;
}
